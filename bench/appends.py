"""Concurrent appends: 4 writers appending small events through the event store,
against raw psycopg inserting the same rows with no ordering at all, and against the
``eventsourcing`` library's PostgreSQL recorder (which keeps readers from skipping
events with a table lock), on the same server in the same run."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable

import psycopg
import sqlalchemy as sa

from bench.harness import SERVER_URL, Result, libpq, result, scaled
from domain.events import BacktestDeleted, EventMetadata, encode_event, encode_metadata
from infrastructure.database import create_engine, write_transaction
from infrastructure.event_store import StoredEvent, append
from infrastructure.migrate import upgrade

WRITERS = 4


def _none(_conn: sa.Connection, _event: StoredEvent) -> None:
    return None


def _rate(per_writer: int, work: Callable[[int], Callable[[], None]]) -> float:
    """Events/s of WRITERS threads each calling its ``work`` per_writer times."""
    jobs = [work(w) for w in range(WRITERS)]
    barrier = threading.Barrier(WRITERS + 1)

    def run(job: Callable[[], None]) -> None:
        barrier.wait()
        for _ in range(per_writer):
            job()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return WRITERS * per_writer / (time.perf_counter() - started)


def ours(url: str, per_writer: int) -> float:
    engine = create_engine(url, pool_size=WRITERS)
    upgrade(engine)
    metadata = EventMetadata(actor_id="bench")

    def work(_: int) -> Callable[[], None]:
        def job() -> None:
            stream = str(uuid.uuid4())
            with write_transaction(engine) as conn:
                append(conn, stream, 0, [BacktestDeleted(stream)], metadata, _none)

        return job

    try:
        return _rate(per_writer, work)
    finally:
        engine.dispose()


def raw(url: str, per_writer: int) -> float:
    """The same row into the same table, one INSERT and COMMIT each, nothing else."""
    connections = [psycopg.connect(libpq(url)) for _ in range(WRITERS)]
    data_meta = (encode_metadata(EventMetadata(actor_id="bench")),)

    def work(w: int) -> Callable[[], None]:
        conn = connections[w]

        def job() -> None:
            stream = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO events (event_id, stream_id, stream_version, event_type, "
                "schema_version, data, metadata, recorded_at, hash) "
                "VALUES (%s, %s, 1, 'BacktestDeleted', 1, %s, %s, %s, %s)",
                (str(uuid.uuid4()), stream, encode_event(BacktestDeleted(stream)),
                 *data_meta, dt.datetime.now(dt.UTC), "0" * 64),
            )  # fmt: skip
            conn.commit()

        return job

    try:
        return _rate(per_writer, work)
    finally:
        for conn in connections:
            conn.close()


def eventsourcing_recorder(schema: str, per_writer: int) -> float:
    from eventsourcing.persistence import StoredEvent as LibraryEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    parsed = sa.make_url(SERVER_URL)
    datastore = PostgresDatastore(
        dbname=parsed.database or "test", host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432, user=parsed.username or "postgres",
        password=parsed.password or "", pool_size=WRITERS, schema=schema,
    )  # fmt: skip
    recorder = PostgresApplicationRecorder(datastore)
    recorder.create_table()
    state = encode_event(BacktestDeleted(str(uuid.uuid4())))

    def work(_: int) -> Callable[[], None]:
        def job() -> None:
            recorder.insert_events([LibraryEvent(uuid.uuid4(), 1, "BacktestDeleted", state)])

        return job

    try:
        return _rate(per_writer, work)
    finally:
        datastore.close()


def run(url: str, schema: str) -> list[Result]:
    per_writer = scaled(1500, 100)
    ours(url, 20)  # warm up: pool, statement caches
    mine = ours(url, per_writer)
    unlocked = raw(url, per_writer)
    library = eventsourcing_recorder(schema, per_writer)
    return [
        result(f"appends, {WRITERS} writers, no reader skips", mine, "events/s",
               "raw psycopg INSERT+COMMIT of the same rows, no ordering", unlocked, 0.8),
        result(f"appends, {WRITERS} writers, no reader skips", mine, "events/s",
               "eventsourcing PostgresApplicationRecorder (table lock)", library, 3.0),
    ]  # fmt: skip
