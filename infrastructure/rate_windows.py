"""Counts of requests per identity and minute, shared by every service node through
the database (``rate_windows``), so that a limit holds across nodes and workers.

Each process counts its own hits at once and adds them to the shared row every
``flush_s`` (one statement for all of them), reading back the totals of every identity
it has seen this minute; the first hit of an identity in a minute reads its shared
count first. A count is therefore this process's own hits, exactly, plus the other
nodes' as of at most ``flush_s`` ago. While the database does not answer, counting goes
on locally (the limit then holds per process) and the hits are added once it does.
Only the current minute is held in memory; older rows are deleted as minutes pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from infrastructure.database import write_transaction
from infrastructure.tables import rate_windows

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (scope, identity)


class SharedWindows:
    """Fixed one-minute windows of hits, counted across every process on the database."""

    def __init__(
        self,
        engine: sa.Engine,
        window_s: int = 60,
        flush_s: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine, self.window_s, self.flush_s, self.clock = engine, window_s, flush_s, clock
        self._window = self._current()
        self._pending: dict[Key, int] = {}
        self._shared: dict[Key, int] = {}  # the database's count, as last read
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _current(self) -> int:
        return int(self.clock()) // self.window_s * self.window_s

    def seconds_left(self) -> int:
        return max(1, self._current() + self.window_s - int(self.clock()))

    def _roll(self) -> None:
        """A new minute: forget the last one's counts (its pending hits are dropped with
        it: they can no longer hold anything back)."""
        window = self._current()
        if window != self._window:
            self._window, self._pending, self._shared = window, {}, {}

    def known(self, scope: str, identity: str) -> bool:
        """Whether ``identity``'s shared count this minute is already here, so that
        ``hit`` and ``count`` need no database (and may run on the event loop)."""
        with self._lock:
            self._roll()
            return (scope, identity) in self._shared

    def count(self, scope: str, identity: str) -> int:
        """Hits of ``identity`` this minute, across the nodes."""
        key = (scope, identity)
        with self._lock:
            self._roll()
            known = key in self._shared
        if not known:
            self._read_shared(key)
        with self._lock:
            return self._shared.get(key, 0) + self._pending.get(key, 0)

    def hit(self, scope: str, identity: str) -> int:
        """Count one hit; the count with it."""
        count = self.count(scope, identity) + 1
        with self._lock:
            key = (scope, identity)
            self._pending[key] = self._pending.get(key, 0) + 1
        self._start()
        return count

    def _read_shared(self, key: Key) -> None:
        r = rate_windows.c
        try:
            with self.engine.connect() as conn:
                found = conn.execute(
                    sa.select(r.hits).where(
                        r.scope == key[0], r.identity == key[1], r.window_start == self._window
                    )
                ).scalar()
        except sa.exc.SQLAlchemyError:
            found = None
        with self._lock:
            self._shared.setdefault(key, int(found or 0))

    def flush(self) -> None:
        """Add the pending hits to the shared rows and read back every known total."""
        with self._lock:
            self._roll()
            window, pending, self._pending = self._window, self._pending, {}
            known = list(self._shared)
        try:
            totals = self._write(window, pending, known)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("rate windows not shared this time: %s", str(exc).splitlines()[0])
            with self._lock:
                if window == self._window:
                    for key, hits in pending.items():
                        self._pending[key] = self._pending.get(key, 0) + hits
            return
        with self._lock:
            if window == self._window:  # hits counted meanwhile are still in _pending
                self._shared.update(totals)

    def _write(self, window: int, pending: dict[Key, int], known: list[Key]) -> dict[Key, int]:
        """Add ``pending`` (in a write transaction, only when there is any: on SQLite a
        write takes the file's lock) and read the totals of ``known`` and ``pending``."""
        wanted = sorted(set(known) | set(pending))
        if not wanted:
            return {}
        if not pending:
            with self.engine.connect() as conn:
                return self._totals(conn, window, wanted)
        r = rate_windows.c
        with write_transaction(self.engine) as conn:
            insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
            rows = [{"scope": s, "identity": i, "window_start": window, "hits": n}
                    for (s, i), n in pending.items()]  # fmt: skip
            statement = insert(rate_windows).values(rows)
            conn.execute(statement.on_conflict_do_update(
                index_elements=[r.scope, r.identity, r.window_start],
                set_={"hits": rate_windows.c.hits + statement.excluded.hits},
            ))  # fmt: skip
            conn.execute(rate_windows.delete().where(r.window_start < window))
            return self._totals(conn, window, wanted)

    @staticmethod
    def _totals(conn: sa.Connection, window: int, wanted: list[Key]) -> dict[Key, int]:
        r = rate_windows.c
        found = conn.execute(
            sa.select(r.scope, r.identity, r.hits).where(
                r.window_start == window, sa.tuple_(r.scope, r.identity).in_(wanted)
            )
        ).all()
        return {(s, i): int(n) for s, i, n in found}

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()
        self.engine.dispose()
