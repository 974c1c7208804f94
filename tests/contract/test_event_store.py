"""The event-store contract, run on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import threading
import uuid

import msgspec
import pytest
import sqlalchemy as sa

from domain.events import BacktestDeleted, Event, EventMetadata
from infrastructure.database import write_transaction
from infrastructure.event_store import (
    ConcurrencyConflict,
    StoredEvent,
    append,
    load_stream,
    read_feed,
)
from infrastructure.hash_chain import GENESIS, event_hash
from infrastructure.tables import events

META = EventMetadata(actor_id="tester", request_id="r1")


def no_projection(_conn: sa.Connection, _stored: StoredEvent, _event: Event) -> None:
    return None


def append_deleted(
    engine: sa.Engine, stream: str, expected: int, count: int = 1
) -> list[StoredEvent]:
    with write_transaction(engine) as conn:
        return append(
            conn, stream, expected, [BacktestDeleted(stream)] * count, META, no_projection
        )


def event_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def test_appended_events_load_back_byte_for_byte_in_stream_order(engine: sa.Engine) -> None:
    stream = str(uuid.uuid4())
    written = append_deleted(engine, stream, 0, count=3)
    with engine.connect() as conn:
        loaded = load_stream(conn, stream)
    assert loaded == written
    assert [e.stream_version for e in loaded] == [1, 2, 3]
    assert loaded[0].event() == BacktestDeleted(stream)
    assert loaded[0].meta() == META
    assert loaded[0].recorded_at.utcoffset() is not None


def test_each_hash_chains_to_the_previous_one_in_its_stream(engine: sa.Engine) -> None:
    stream = str(uuid.uuid4())
    first = append_deleted(engine, stream, 0)[0]
    second = append_deleted(engine, stream, 1)[0]
    assert second.hash == event_hash(first.hash, second)
    assert second.hash != event_hash(GENESIS, second)
    tampered = msgspec.structs.replace(second, data=second.data.replace(b"Deleted", b"Deletex"))
    assert tampered.data != second.data
    assert second.hash != event_hash(first.hash, tampered)
    assert first.hash == event_hash(GENESIS, first)


def test_appending_at_a_stale_version_is_a_conflict_and_stores_nothing(engine: sa.Engine) -> None:
    stream = str(uuid.uuid4())
    append_deleted(engine, stream, 0)
    with pytest.raises(ConcurrencyConflict):
        append_deleted(engine, stream, 0)
    with pytest.raises(ConcurrencyConflict):
        append_deleted(engine, stream, 5)
    assert event_count(engine) == 1


def test_a_failing_projection_stores_no_event(engine: sa.Engine) -> None:
    def broken(_conn: sa.Connection, _stored: StoredEvent, _event: Event) -> None:
        raise RuntimeError("projection failed")

    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        append(conn, str(uuid.uuid4()), 0, [BacktestDeleted("x")], META, broken)
    assert event_count(engine) == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET event_type = 'Forged'",
        "UPDATE events SET data = data WHERE position = 1",
        "DELETE FROM events",
        "DELETE FROM events WHERE position = 1",
    ],
)
def test_the_log_refuses_updates_and_deletes_whoever_issues_them(
    engine: sa.Engine, statement: str
) -> None:
    append_deleted(engine, str(uuid.uuid4()), 0, count=2)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert event_count(engine) == 2


def test_truncate_is_refused_on_postgresql(pg_engine: sa.Engine) -> None:
    append_deleted(pg_engine, str(uuid.uuid4()), 0)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), pg_engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE events"))
    assert event_count(pg_engine) == 1


@pytest.mark.feed
def test_the_feed_continues_right_after_the_given_position(engine: sa.Engine) -> None:
    streams = [str(uuid.uuid4()) for _ in range(5)]
    for stream in streams:
        append_deleted(engine, stream, 0)
    with engine.connect() as conn:
        everything = read_feed(conn, 0, 100)
        assert [e.stream_id for e in everything] == streams
        page = read_feed(conn, everything[1].position, 2)
    assert [e.stream_id for e in page] == streams[2:4]


def test_of_two_racing_commands_on_one_stream_exactly_one_wins(engine: sa.Engine) -> None:
    """Both decided against version 1; the second to commit gets the conflict."""
    stream = str(uuid.uuid4())
    append_deleted(engine, stream, 0)
    outcome: list[str] = []

    def loser() -> None:
        try:
            append_deleted(engine, stream, 1)
            outcome.append("appended")
        except ConcurrencyConflict:
            outcome.append("conflict")

    with write_transaction(engine) as conn:
        append(conn, stream, 1, [BacktestDeleted(stream)], META, no_projection)
        racer = threading.Thread(target=loser)
        racer.start()
        racer.join(timeout=0.5)
        assert racer.is_alive(), "the second append must wait for the first to finish"
    racer.join(timeout=30)
    assert outcome == ["conflict"]
    with engine.connect() as conn:
        assert [e.stream_version for e in load_stream(conn, stream)] == [1, 2]
