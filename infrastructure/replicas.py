"""Reads from PostgreSQL hot standbys, with read-your-writes.

A write's consistency token is the primary's WAL position once the write committed
(``pg_current_wal_lsn()``, written ``X/Y`` as PostgreSQL does). A read that brings a
token is served by a standby only once that standby has replayed past it
(``pg_last_wal_replay_lsn()``), waited for up to ``wait_s``, and otherwise by the
primary: a client holding a token never sees state older than its write. A read
without one goes to a standby that answers and lags by at most ``max_lag_s``.

A standby that does not answer is out of rotation for ``RETRY_S`` and tried again
then, or sooner when the primary does not answer either: a read then tries a standby
in its penalty before it fails. Each check runs on a connection of the standby's
pool, which hands the same connection to the read right after (LIFO), so a standby
that stopped is found out by the check, not by the read.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from domain.errors import DomainError
from infrastructure.database import create_engine

RETRY_S = 5.0
POLL_S = 0.01
_TOKEN = re.compile(r"[0-9A-F]{1,8}/[0-9A-F]{1,8}")
# the lag of a standby that has replayed all it received is 0, however long ago the
# primary last wrote
_HEALTH = sa.text(
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "CASE WHEN pg_last_wal_receive_lsn() IS NULL "
    "OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) END"
)


class BadToken(DomainError):
    """A consistency token that is not one this service gave."""

    def __init__(self, text: str) -> None:
        super().__init__(f"{text[:40]!r} is not a consistency token (Ledger-Consistency)")


def parse_token(text: str) -> int:
    """A token as a WAL position (a 64-bit number)."""
    if not _TOKEN.fullmatch(text.strip().upper()):
        raise BadToken(text)
    high, low = text.strip().upper().split("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_token(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


@dataclass
class ReplicaState:
    """What is known of one standby: replayed up to ``replayed``, ``lag_s`` behind,
    out of rotation until ``down_until`` (monotonic seconds)."""

    name: str
    engine: sa.Engine
    replayed: int = 0
    lag_s: float | None = None
    down_until: float = 0.0
    error: str | None = None

    def check(self) -> bool:
        """Ask the standby where it is; False (and out of rotation) when it does not
        answer or is not a standby."""
        try:
            with self.engine.connect() as conn:
                in_recovery, replayed, lag = conn.execute(_HEALTH).one()
        except sa.exc.SQLAlchemyError as exc:
            self.down_until = time.monotonic() + RETRY_S
            self.error, self.lag_s = str(getattr(exc, "orig", exc)).splitlines()[0], None
            return False
        if not in_recovery or replayed is None:
            self.down_until = time.monotonic() + RETRY_S
            self.error = "not a standby (pg_is_in_recovery() is false)"
            return False
        self.replayed, self.lag_s, self.error = parse_token(replayed), float(lag), None
        return True


def _answers(engine: sa.Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.SQLAlchemyError:
        return False
    return True


class ReadRouting:
    """Where each read goes: the primary, or a standby that is fresh enough."""

    def __init__(
        self,
        primary: sa.Engine,
        replica_urls: tuple[str, ...] = (),
        wait_s: float = 0.2,
        max_lag_s: float = 10.0,
        **engine_options: Any,
    ) -> None:
        self.primary = primary
        self.wait_s, self.max_lag_s = wait_s, max_lag_s
        self.replicas = [
            ReplicaState(sa.make_url(url).render_as_string(hide_password=True),
                         create_engine(url, pool_use_lifo=True, **engine_options))
            for url in replica_urls
        ]  # fmt: skip
        self._turns = itertools.count()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.replicas)

    def _in_turn(self) -> list[ReplicaState]:
        """The standbys in rotation, starting from the next one's turn."""
        now = time.monotonic()
        live = [r for r in self.replicas if r.down_until <= now]
        if not live:
            return []
        with self._lock:
            start = next(self._turns) % len(live)
        return live[start:] + live[:start]

    def reader(self, token: int | None = None) -> sa.Engine:
        """The engine a read goes to (the primary when no standby will do)."""
        for replica in self._in_turn():
            if self._will_do(replica, token):
                return replica.engine
        # Every standby out of rotation: the primary, unless it too is down, when a
        # standby still in its penalty (restarted a moment ago) is tried before a
        # read fails.
        resting = [r for r in self.replicas if r.down_until > time.monotonic()]
        if resting and not _answers(self.primary):
            for replica in resting:
                if self._will_do(replica, token):
                    return replica.engine
        return self.primary

    def _will_do(self, replica: ReplicaState, token: int | None) -> bool:
        """Whether the standby answers and is fresh enough: lagging at most
        ``max_lag_s``, or replayed past ``token`` within ``wait_s``."""
        if token is None:
            return replica.check() and replica.lag_s is not None and replica.lag_s <= self.max_lag_s
        deadline = time.monotonic() + self.wait_s
        while replica.check():
            if replica.replayed >= token:
                return True
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        return False

    def token_after_commit(self) -> str | None:
        """The token of every write committed so far (None without standbys)."""
        if not self.replicas:
            return None
        with self.primary.connect() as conn:
            return str(conn.execute(sa.text("SELECT pg_current_wal_lsn()::text")).scalar_one())

    def dispose(self) -> None:
        for replica in self.replicas:
            replica.engine.dispose()
