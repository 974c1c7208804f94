"""Wire types of the HTTP API that are not read-model views: problems and events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from infrastructure.event_store import StoredEvent


class FieldProblem(msgspec.Struct, frozen=True):
    """One offending field of a request body."""

    pointer: str
    detail: str


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


class EventOut(msgspec.Struct, frozen=True):
    """One event of the log. ``data`` and ``metadata`` are the exact stored bytes."""

    position: int
    event_id: str
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    recorded_at: dt.datetime
    hash: str
    data: Any
    metadata: Any

    @classmethod
    def of(cls, stored: StoredEvent) -> EventOut:
        return cls(
            position=stored.position,
            event_id=stored.event_id,
            stream_id=stored.stream_id,
            stream_version=stored.stream_version,
            event_type=stored.event_type,
            schema_version=stored.schema_version,
            recorded_at=stored.recorded_at,
            hash=stored.hash,
            data=msgspec.Raw(stored.data),
            metadata=msgspec.Raw(stored.metadata),
        )


class EventPage(msgspec.Struct, frozen=True):
    """A page of the event feed; pass ``next_after`` as ``after`` to continue."""

    events: list[EventOut]
    next_after: int


class StreamHistory(msgspec.Struct, frozen=True):
    backtest_id: str
    events: list[EventOut]
