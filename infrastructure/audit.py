"""Auditing the log: recompute every stream's hash chain and a digest of the whole log.

Works on any iterable of stored events in feed order: the database's feed, or an
NDJSON export read back with no database at all. On PostgreSQL the feed holds back
the events of transactions newer than one still open (their place in the feed order
is not final yet); the database's verification checks those too, and counts them
apart from the digest, so an old idle transaction cannot hide an edited event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from infrastructure.event_store import StoredEvent, held_back, read_feed
from infrastructure.hash_chain import GENESIS, event_hash


@dataclass(frozen=True)
class ChainBreak:
    """The first event whose stored hash or version does not follow from its stream."""

    position: int
    stream_id: str
    stream_version: int
    reason: str


@dataclass
class ChainReport:
    events: int = 0
    streams: int = 0
    head_position: int | None = None
    digest: str = ""
    first_mismatch: ChainBreak | None = None
    held_back: int = 0
    _heads: dict[str, tuple[int, str]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.first_mismatch is None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "streams": self.streams,
            "head_position": self.head_position,
            "digest": self.digest,
            "first_mismatch": None if self.first_mismatch is None else vars(self.first_mismatch),
            "held_back": self.held_back,
        }

    def check(self, event: StoredEvent) -> None:
        """Check one event against its stream's previous one and make it the stream's
        head; the first that does not follow is kept."""
        version, previous = self._heads.get(event.stream_id, (0, GENESIS))
        reason = None
        if event.stream_version != version + 1:
            reason = f"stream version {event.stream_version} follows {version}"
        elif event.hash != event_hash(previous, event):
            reason = "stored hash does not match the event's bytes and its predecessor"
        if reason and self.first_mismatch is None:
            self.first_mismatch = ChainBreak(
                event.position, event.stream_id, event.stream_version, reason
            )
        self._heads[event.stream_id] = (event.stream_version, event.hash)


def verify_chain(
    events: Iterable[StoredEvent], held_back: Iterable[StoredEvent] = ()
) -> ChainReport:
    """Check each event against its stream's previous hash; digest = sha256 of every
    event hash, one per line, in the order given (the feed order). ``held_back``, the
    visible events the feed has not released yet, are checked after them and only
    counted: ``events``, ``streams``, ``head_position`` and ``digest`` are the feed's."""
    report = ChainReport()
    digest = hashlib.sha256()
    for event in events:
        report.check(event)
        digest.update(event.hash.encode() + b"\n")
        report.events += 1
        report.head_position = event.position
    report.streams = len(report._heads)
    report.digest = digest.hexdigest()
    for event in held_back:
        report.check(event)
        report.held_back += 1
    return report


def feed(conn: sa.Connection, after: int = 0, page: int = 1000) -> Iterator[StoredEvent]:
    """Every event the feed releases after ``after``, page by page, in feed order."""
    while True:
        batch = read_feed(conn, after, page)
        yield from batch
        if len(batch) < page:
            return
        after = batch[-1].position


def verify_log(engine: sa.Engine) -> ChainReport:
    """Verify the database's whole log, read in one consistent snapshot: what the feed
    releases, then what it still holds back."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            return verify_chain(feed(conn), held_back(conn))


def export_log(engine: sa.Engine, after: int = 0) -> Iterator[StoredEvent]:
    """The log after position ``after`` in feed order, for ``audit export``."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield from feed(conn, after)
