"""The log as NDJSON, for auditors who take it away and verify or replay it alone.

One event per line. ``data`` and ``metadata`` are embedded verbatim — the exact
stored bytes, which are JSON — and read back verbatim with ``msgspec.Raw``, so the
hashes can be checked with no re-encoding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import msgspec

from infrastructure.event_store import StoredEvent
from infrastructure.hash_chain import canonical_instant


class LoggedEvent(msgspec.Struct, frozen=True):
    """One event of the log as exported and served: ``data`` and ``metadata`` are the
    exact stored bytes (JSON), embedded verbatim."""

    position: int
    event_id: str
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    recorded_at: str
    hash: str
    data: msgspec.Raw
    metadata: msgspec.Raw

    @classmethod
    def of(cls, e: StoredEvent) -> LoggedEvent:
        return cls(
            position=e.position,
            event_id=e.event_id,
            stream_id=e.stream_id,
            stream_version=e.stream_version,
            event_type=e.event_type,
            schema_version=e.schema_version,
            recorded_at=canonical_instant(e.recorded_at),
            hash=e.hash,
            data=msgspec.Raw(e.data),
            metadata=msgspec.Raw(e.metadata),
        )


class BadLogFile(ValueError):
    """A line of a log file that is not an exported event."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(LoggedEvent)


def export_lines(events: Iterable[StoredEvent]) -> Iterator[bytes]:
    """One NDJSON line per event."""
    for event in events:
        yield _encoder.encode(LoggedEvent.of(event)) + b"\n"


def read_lines(lines: Iterable[bytes]) -> Iterator[StoredEvent]:
    """The stored events of an NDJSON export, exactly as they were stored."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            logged = _decoder.decode(line)
            recorded_at = dt.datetime.fromisoformat(logged.recorded_at)
        except (msgspec.DecodeError, ValueError) as exc:
            raise BadLogFile(f"line {number}: not an exported event ({exc})") from exc
        yield StoredEvent(
            position=logged.position,
            event_id=logged.event_id,
            stream_id=logged.stream_id,
            stream_version=logged.stream_version,
            event_type=logged.event_type,
            schema_version=logged.schema_version,
            data=bytes(logged.data),
            metadata=bytes(logged.metadata),
            recorded_at=recorded_at,
            hash=logged.hash,
        )


def read_file(path: str | Path) -> Iterator[StoredEvent]:
    with open(path, "rb") as handle:
        yield from read_lines(handle)


def write_file(events: Iterable[StoredEvent], sink: BinaryIO) -> int:
    count = 0
    for line in export_lines(events):
        sink.write(line)
        count += 1
    return count
