"""The event store: append with optimistic concurrency, load a stream, read the feed.

Feed order (the replay order) on PostgreSQL is ``(tx_id, position)``, where ``tx_id``
is the appending transaction's id (``xid8``, defaulting to ``pg_current_xact_id()``).
Positions come from a sequence and become visible out of order when transactions
commit concurrently, so a reader paging by position alone can skip an event that
commits late with a smaller position. The feed therefore returns only rows whose
transaction is older than every transaction still running in the reader's snapshot
(``tx_id < pg_snapshot_xmin(pg_current_snapshot())``): such a transaction has
finished, so no row can later appear before the reader's cursor. Appends are never
serialised by a lock. On SQLite writes are serialised anyway, so position order is
commit order and the feed is simply ``ORDER BY position``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from domain.events import (
    DECODE_ERRORS,
    SCHEMA_VERSIONS,
    Event,
    EventMetadata,
    UnreadableEvent,
    decode_event,
    decode_metadata,
    encode_event,
    encode_metadata,
    event_type,
)
from infrastructure.database import as_utc, driver_errors
from infrastructure.hash_chain import GENESIS, event_hash
from infrastructure.tables import events

# Positions are 64-bit on both stores: a larger one is no position this log can have.
MAX_POSITION = 2**63 - 1
EVENT_COLUMNS = (
    events.c.position,
    events.c.event_id,
    events.c.stream_id,
    events.c.stream_version,
    events.c.event_type,
    events.c.schema_version,
    events.c.data,
    events.c.metadata,
    events.c.recorded_at,
    events.c.hash,
)


class ConcurrencyConflict(Exception):
    """Another command appended to the stream since it was loaded."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(
            f"stream {stream_id} changed concurrently (expected version {expected_version})"
        )
        self.stream_id = stream_id
        self.expected_version = expected_version


class UnknownPosition(Exception):
    """A feed cursor names a position that holds no event."""

    def __init__(self, position: int) -> None:
        super().__init__(f"no event at position {position}")
        self.position = position


class StoredEvent(msgspec.Struct, frozen=True):
    """One row of the event log, exactly as stored. (A Struct: an append builds one
    per event on the hot path, at a fraction of a dataclass's cost.)"""

    position: int
    event_id: str
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    data: bytes
    metadata: bytes
    recorded_at: dt.datetime
    hash: str

    @classmethod
    def from_row(cls, row: Any) -> StoredEvent:
        m = row._mapping
        return cls(
            position=m["position"],
            event_id=m["event_id"],
            stream_id=m["stream_id"],
            stream_version=m["stream_version"],
            event_type=m["event_type"],
            schema_version=m["schema_version"],
            data=bytes(m["data"]),
            metadata=bytes(m["metadata"]),
            recorded_at=as_utc(m["recorded_at"]),
            hash=m["hash"],
        )

    def event(self) -> Event:
        """The event in its current schema version (older ones are upcast); an
        ``UnreadableEvent`` naming it when this version cannot read it."""
        try:
            return decode_event(self.data, self.event_type, self.schema_version)
        except DECODE_ERRORS as exc:
            raise UnreadableEvent(self.position, self.stream_id, self.event_type, str(exc)) from exc

    def meta(self) -> EventMetadata:
        return decode_metadata(self.metadata)


# called with the stored event and the event it was encoded from
Projector = Callable[[sa.Connection, StoredEvent, Event], None]
# Built once: a statement constructed per append costs more than its round trip.
_INSERT_RETURNING_POSITION = events.insert().returning(events.c.position)


def load_stream(conn: sa.Connection, stream_id: str) -> list[StoredEvent]:
    """Every event of one stream, in stream order."""
    rows = conn.execute(
        sa.select(*EVENT_COLUMNS)
        .where(events.c.stream_id == stream_id)
        .order_by(events.c.stream_version)
    )
    return [StoredEvent.from_row(row) for row in rows]


def append(
    conn: sa.Connection,
    stream_id: str,
    expected_version: int,
    new_events: Sequence[Event],
    metadata: EventMetadata,
    project: Projector,
    previous_hash: str | None = None,
) -> list[StoredEvent]:
    """Append events after ``expected_version`` and project each, in the caller's
    transaction; ``ConcurrencyConflict`` when the stream moved on meanwhile."""
    if previous_hash is None:
        previous_hash = _stream_head_hash(conn, stream_id, expected_version)
    encoded_metadata = encode_metadata(metadata)
    recorded_at = dt.datetime.now(dt.UTC)
    stored: list[StoredEvent] = []
    for offset, new_event in enumerate(new_events, start=1):
        name = event_type(new_event)
        unsealed = StoredEvent(
            position=0,
            event_id=str(uuid.uuid4()),
            stream_id=stream_id,
            stream_version=expected_version + offset,
            event_type=name,
            schema_version=SCHEMA_VERSIONS[name],
            data=encode_event(new_event),
            metadata=encoded_metadata,
            recorded_at=recorded_at,
            hash="",
        )
        event = msgspec.structs.replace(unsealed, hash=event_hash(previous_hash, unsealed))
        try:
            position = _insert(conn, event)
        except sa.exc.IntegrityError as exc:
            if _is_version_conflict(exc):
                raise ConcurrencyConflict(stream_id, expected_version) from exc
            raise
        event = msgspec.structs.replace(event, position=position)
        project(conn, event, new_event)
        stored.append(event)
        previous_hash = event.hash
    return stored


_INSERTED_COLUMNS = StoredEvent.__struct_fields__[1:]  # all but position, in order
SHARED_CURSOR_MAX_BYTES = 256 * 1024
_PG_INSERT = (
    f"INSERT INTO events ({', '.join(_INSERTED_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(_INSERTED_COLUMNS))}) RETURNING position"
)


def _insert(conn: sa.Connection, event: StoredEvent) -> int:
    """Insert one event row in the connection's transaction; return its position.

    On PostgreSQL straight through psycopg (same connection, same transaction): the
    append is the hot path, and SQLAlchemy's statement handling cost more than the
    round trip itself under concurrent writers."""
    row = msgspec.structs.astuple(event)[1:]  # every stored column but position
    if conn.dialect.name != "postgresql":
        named = dict(zip(_INSERTED_COLUMNS, row, strict=True))
        return int(conn.execute(_INSERT_RETURNING_POSITION, named).scalar_one())
    # One cursor per pooled connection, kept with it: a new cursor per append was a
    # measurable share of the append's client time. A cursor keeps its last parameters
    # until its next statement, so a large event goes through a cursor of its own
    # instead, let go at once: kept, each pooled connection would hold a copy of the
    # largest event it ever wrote.
    driver = conn.connection.driver_connection
    info = conn.connection.info
    if len(event.data) > SHARED_CURSOR_MAX_BYTES:
        with driver_errors(conn, _PG_INSERT, row), driver.cursor() as own:  # type: ignore[union-attr]
            found = own.execute(_PG_INSERT, row).fetchone()
        return int(found[0])
    cursor = info.get("append_cursor")
    if cursor is None:
        cursor = info["append_cursor"] = driver.cursor()  # type: ignore[union-attr]
    with driver_errors(conn, _PG_INSERT, row):
        found = cursor.execute(_PG_INSERT, row).fetchone()
    return int(found[0])


def _stream_head_hash(conn: sa.Connection, stream_id: str, version: int) -> str:
    if version == 0:
        return GENESIS
    found = conn.execute(
        sa.select(events.c.hash).where(
            events.c.stream_id == stream_id, events.c.stream_version == version
        )
    ).scalar_one_or_none()
    if found is None:
        raise ConcurrencyConflict(stream_id, version)
    return str(found)


def _is_version_conflict(exc: sa.exc.IntegrityError) -> bool:
    text = str(exc.orig)
    return "uq_events_stream_version" in text or "events.stream_id, events.stream_version" in text


def read_feed(conn: sa.Connection, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
    """Up to ``limit`` events right after the event at position ``after`` in feed order
    (``after=0`` starts at the beginning). Never skips: see the module docstring."""
    cursor_tx = feed_key(conn, after) if after > 0 else 0
    if conn.dialect.name != "postgresql":
        rows = conn.execute(
            sa.select(*EVENT_COLUMNS)
            .where(events.c.position > after)
            .order_by(events.c.position)
            .limit(limit)
        )
        return [StoredEvent.from_row(row) for row in rows]
    columns = ", ".join(f'"{c.name}"' for c in EVENT_COLUMNS)
    rows = conn.execute(
        sa.text(
            f"SELECT {columns} FROM events "
            "WHERE (tx_id, position) > (CAST(:tx AS xid8), :after) "
            "AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) "
            "ORDER BY tx_id, position LIMIT :limit"
        ),
        {"tx": str(cursor_tx), "after": after, "limit": limit},
    )
    return [StoredEvent.from_row(row) for row in rows]


def held_back(conn: sa.Connection) -> Iterator[StoredEvent]:
    """The visible events the feed does not release yet, in feed order: on PostgreSQL
    those of transactions at or past the snapshot's xmin (an older one is still open);
    on SQLite none. With ``read_feed`` in one snapshot, every visible event once."""
    if conn.dialect.name == "postgresql":
        yield from events_from_frontier(conn, feed_frontier(conn))


class FeedHold(msgspec.Struct, frozen=True):
    """How far the feed is held back: the committed events it does not release yet, and
    the oldest transaction open on the server (any database) that holds them."""

    held_back_events: int
    oldest_transaction_seconds: float | None
    oldest_transaction_database: str | None


def feed_hold(conn: sa.Connection) -> FeedHold:
    """The feed's hold now (PostgreSQL; on SQLite nothing is ever held back). A long
    transaction anywhere on the server delays the feed, never makes it skip."""
    if conn.dialect.name != "postgresql":
        return FeedHold(0, None, None)
    held = conn.execute(
        sa.text(
            "SELECT count(*) FROM events WHERE tx_id >= pg_snapshot_xmin(pg_current_snapshot())"
        )
    ).scalar_one()
    oldest = conn.execute(
        sa.text(
            "SELECT extract(epoch FROM now() - xact_start), datname FROM pg_stat_activity "
            "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() "
            "ORDER BY xact_start LIMIT 1"
        )
    ).first()
    if oldest is None:
        return FeedHold(int(held), None, None)
    return FeedHold(int(held), round(float(oldest[0]), 3), oldest[1])


def count_events(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def feed_frontier(conn: sa.Connection) -> int:
    """Every event the feed has not yet released belongs to a transaction at or above
    this id (PostgreSQL: the snapshot's xmin; SQLite: 0, nothing is held back)."""
    if conn.dialect.name != "postgresql":
        return 0
    xmin = conn.execute(sa.text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text"))
    return int(xmin.scalar_one())


def events_from_frontier(
    conn: sa.Connection, frontier: int, after: int = 0
) -> Iterator[StoredEvent]:
    """Every visible event the feed had not released at ``frontier`` (PostgreSQL), or
    after position ``after`` (SQLite), held back or not. Only sound under a lock that
    keeps new events from being projected meanwhile (``projections rebuild``)."""
    if conn.dialect.name != "postgresql":
        rows = conn.execute(
            sa.select(*EVENT_COLUMNS).where(events.c.position > after).order_by(events.c.position)
        )
    else:
        columns = ", ".join(f'"{c.name}"' for c in EVENT_COLUMNS)
        rows = conn.execute(
            sa.text(
                f"SELECT {columns} FROM events WHERE tx_id >= CAST(:frontier AS xid8) "
                "ORDER BY tx_id, position"
            ),
            {"frontier": str(frontier)},
        )
    for row in rows:
        yield StoredEvent.from_row(row)


def import_events(conn: sa.Connection, stored: Iterable[StoredEvent]) -> int:
    """Insert exported events exactly as they were (positions, ids, bytes, hashes)
    into an empty log; return how many."""
    count = 0
    batch: list[dict[str, object]] = []
    for event in stored:
        batch.append(msgspec.structs.asdict(event))
        count += 1
        if len(batch) == 1000:
            conn.execute(events.insert(), batch)
            batch = []
    if batch:
        conn.execute(events.insert(), batch)
    if conn.dialect.name == "postgresql" and count:
        conn.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('events', 'position'), "
                "(SELECT max(position) FROM events))"
            )
        )
    return count


def stream_ids(conn: sa.Connection) -> list[str]:
    """The id of every stream in the log."""
    return list(
        conn.execute(
            sa.select(events.c.stream_id)
            .where(events.c.stream_version == 1)
            .order_by(events.c.position)
        ).scalars()
    )


def feed_key(conn: sa.Connection, position: int) -> int:
    """The transaction id that, with ``position``, places an event in feed order (0 on
    SQLite, where the position alone does); ``UnknownPosition`` if no event is there."""
    query: sa.Executable
    if conn.dialect.name != "postgresql":
        query = sa.select(sa.literal(0)).where(events.c.position == position)
    else:
        query = sa.text("SELECT tx_id::text FROM events WHERE position = :p").bindparams(p=position)
    found = conn.execute(query).scalar_one_or_none()
    if found is None:
        raise UnknownPosition(position)
    return int(found)


def in_feed_up_to(conn: sa.Connection, position: sa.ColumnElement[Any], n: int, key: int) -> Any:
    """A SQL condition: the event at ``position`` comes at or before the event at
    position ``n`` (whose ``feed_key`` is ``key``) in feed order: "as of position n"."""
    if conn.dialect.name != "postgresql":
        return position <= n
    compiled = position.compile(dialect=conn.dialect)
    return sa.literal_column(
        f"(((SELECT e.tx_id FROM events e WHERE e.position = {compiled}), {compiled}) "
        f"<= ('{int(key)}'::xid8, {int(n)}))",
        type_=sa.Boolean,
    )
