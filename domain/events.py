"""The events of a backtest stream and the one codec that turns them into stored bytes.

Events are frozen msgspec Structs forming a tagged union on ``type``. ``encode_event``
and ``decode_event`` are the only places events become bytes and back again, so what
is hashed is exactly what is stored.

Each event type has a schema version. Stored bytes are never rewritten: an event
stored under an older version is upcast on read, one version step at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from domain.results import RecordedSubmission


class BacktestRecorded(msgspec.Struct, frozen=True, tag=True, tag_field="type"):
    """A backtest's results were submitted and recorded, as sent (non-finite → null)."""

    backtest_id: str
    owner_id: str
    submission: RecordedSubmission


class BacktestDeleted(msgspec.Struct, frozen=True, tag=True, tag_field="type"):
    """The owner withdrew a backtest from the live read models (history keeps it)."""

    backtest_id: str


class BacktestExcludedFromTrials(msgspec.Struct, frozen=True, tag=True, tag_field="type"):
    """The owner said a backtest was a mistake or a test, not a variant tried: it stays
    in the read models but no longer counts as a trial in significance reports."""

    backtest_id: str
    reason: str


Event = BacktestRecorded | BacktestDeleted | BacktestExcludedFromTrials

SCHEMA_VERSIONS: dict[str, int] = {
    "BacktestRecorded": 5,
    "BacktestDeleted": 1,
    "BacktestExcludedFromTrials": 1,
}


V1_SIDES = {"buy": "long", "sell": "short"}


def _recorded_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 let ``periods_per_year`` be absent, meaning 252, and called trade sides
    ``buy``/``sell``; v2 always records the periods and says ``long``/``short``."""
    submission = data["submission"]
    submission.setdefault("periods_per_year", 252)
    for trade in submission.get("trades", []):
        trade["side"] = V1_SIDES.get(trade["side"], trade["side"])
    return data


def _recorded_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """v3 added the optional ``experiment``: a v2 event has none (read as null)."""
    return data


def _recorded_v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    """v4 lets a row be keyed by ``time`` (intraday bars) instead of ``date``, and
    records the ``periods_per_year`` inferred from the bars when none was sent: a v3
    event has dates and its periods already."""
    return data


def _recorded_v4_to_v5(data: dict[str, Any]) -> dict[str, Any]:
    """v5 added the optional ``provenance``: a v4 event has none (read as null)."""
    return data


# (event type, stored version) -> the step that lifts it to the next version
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("BacktestRecorded", 1): _recorded_v1_to_v2,
    ("BacktestRecorded", 2): _recorded_v2_to_v3,
    ("BacktestRecorded", 3): _recorded_v3_to_v4,
    ("BacktestRecorded", 4): _recorded_v4_to_v5,
}


class UnknownSchemaVersion(Exception):
    def __init__(self, event_type: str, version: int) -> None:
        super().__init__(f"no way to read {event_type} version {version}")


class UnreadableEvent(Exception):
    """A stored event this version cannot read. The log is never edited: the repair is
    a release whose upcaster reads it (``UPCASTERS``), or a corrective event."""

    def __init__(self, position: int, stream_id: str, event_type: str, reason: str) -> None:
        super().__init__(
            f"event at position {position} ({event_type} in stream {stream_id}) "
            f"cannot be read: {reason}"
        )
        self.position = position
        self.stream_id = stream_id
        self.event_type = event_type
        self.reason = reason


# What decoding an event can raise besides a bug: bytes or a version it cannot read.
DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnknownSchemaVersion, KeyError,
                 TypeError)  # fmt: skip


class EventMetadata(msgspec.Struct, frozen=True, omit_defaults=True):
    """Who did it and why: kept beside each event, covered by its hash."""

    actor_id: str
    request_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    idempotency_key: str | None = None
    sanitized_fields: list[str] = msgspec.field(default_factory=list)


_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(Event)
_metadata_decoder = msgspec.json.Decoder(EventMetadata)


def event_type(event: Event) -> str:
    """The stored type name of an event."""
    return type(event).__name__


def encode_event(event: Event) -> bytes:
    """The exact bytes stored (and hashed) for an event's data."""
    return _encoder.encode(event)


def decode_event(data: bytes, event_type: str | None = None, schema_version: int = 0) -> Event:
    """Decode stored event data into its current event class, upcasting older versions."""
    current = SCHEMA_VERSIONS.get(event_type or "", 0)
    if event_type is None or schema_version == current:
        event: Event = _event_decoder.decode(data)
        return event
    if schema_version > current:
        raise UnknownSchemaVersion(event_type, schema_version)
    document = msgspec.json.decode(data)
    for version in range(schema_version, current):
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownSchemaVersion(event_type, version)
        document = step(document)
    upcast: Event = msgspec.convert(document, Event)
    return upcast


def encode_metadata(metadata: EventMetadata) -> bytes:
    """The exact bytes stored (and hashed) for an event's metadata."""
    return _encoder.encode(metadata)


def decode_metadata(data: bytes) -> EventMetadata:
    """Decode stored event metadata."""
    return _metadata_decoder.decode(data)
