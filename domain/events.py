"""The events of a backtest stream and the one codec that turns them into stored bytes.

Events are frozen msgspec Structs forming a tagged union on ``type``. ``encode_event``
and ``decode_event`` are the only places events become bytes and back again, so what
is hashed is exactly what is stored.
"""

from __future__ import annotations

import msgspec

from domain.results import BacktestSubmission


class BacktestRecorded(msgspec.Struct, frozen=True, tag=True, tag_field="type"):
    """A backtest's results were submitted and recorded, as sent (non-finite → null)."""

    backtest_id: str
    owner_id: str
    submission: BacktestSubmission


class BacktestDeleted(msgspec.Struct, frozen=True, tag=True, tag_field="type"):
    """The owner withdrew a backtest from the live read models (history keeps it)."""

    backtest_id: str


Event = BacktestRecorded | BacktestDeleted

SCHEMA_VERSIONS: dict[str, int] = {"BacktestRecorded": 1, "BacktestDeleted": 1}


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


def decode_event(data: bytes) -> Event:
    """Decode stored event data into its event class."""
    event: Event = _event_decoder.decode(data)
    return event


def encode_metadata(metadata: EventMetadata) -> bytes:
    """The exact bytes stored (and hashed) for an event's metadata."""
    return _encoder.encode(metadata)


def decode_metadata(data: bytes) -> EventMetadata:
    """Decode stored event metadata."""
    return _metadata_decoder.decode(data)
