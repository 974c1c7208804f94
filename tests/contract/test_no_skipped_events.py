"""No reader ever skips an event: concurrent writers, one catch-up reader (PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from domain.events import BacktestDeleted, Event, EventMetadata
from infrastructure.database import write_transaction
from infrastructure.event_store import StoredEvent, append, read_feed

WRITERS, APPENDS = 8, 200


def _quiet(_conn: sa.Connection, _stored: StoredEvent, _event: Event) -> None:
    # A little work inside the transaction widens the window in which a later
    # position can commit before an earlier one.
    _conn.execute(sa.text("SELECT pg_sleep(0.0005)"))


@pytest.mark.feed
def test_a_catch_up_reader_sees_every_event_once_in_feed_order(pg_engine: sa.Engine) -> None:
    readers_see_every_event_once(pg_engine, pg_engine)


def readers_see_every_event_once(writing: sa.Engine, reading: sa.Engine) -> None:
    """Writers append on ``writing`` while a reader follows the feed on ``reading`` (the
    same database, or a standby of it): the reader sees every event once, in order."""
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for _ in range(APPENDS):
                stream = str(uuid.uuid4())
                with write_transaction(writing) as conn:
                    append(conn, stream, 0, [BacktestDeleted(stream)],
                           EventMetadata(actor_id="w"), _quiet)  # fmt: skip
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    seen: list[int] = []
    deadline = time.monotonic() + 120

    def reader() -> None:
        after = 0
        with reading.connect() as conn:
            while time.monotonic() < deadline:
                batch = read_feed(conn, after, 50)
                conn.commit()
                seen.extend(e.position for e in batch)
                if batch:
                    after = batch[-1].position
                elif done.is_set() and len(seen) >= WRITERS * APPENDS:
                    return

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    read = threading.Thread(target=reader)
    read.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    read.join()
    assert errors == []
    with writing.connect() as conn:
        committed = (
            conn.execute(sa.text("SELECT position FROM events ORDER BY tx_id, position"))
            .scalars()
            .all()
        )
    assert len(committed) == WRITERS * APPENDS
    assert len(seen) == len(set(seen)), "an event was read twice"
    assert seen == committed, "the reader missed events or read them out of feed order"
