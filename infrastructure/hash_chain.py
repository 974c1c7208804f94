"""The tamper-evidence hash of an event: sha256(previous hash in its stream ‖ its bytes).

"Its bytes" are the stored column values in a fixed layout: a JSON header of the
scalar columns, then the stored ``data`` and ``metadata`` bytes exactly as kept, so
verifying never depends on re-encoding a float.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Protocol

import msgspec

GENESIS = "0" * 64


def canonical_instant(moment: dt.datetime) -> str:
    """The one text form of a stored time that the hash covers."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


class Hashable(Protocol):
    """The stored columns of an event that its hash covers."""

    @property
    def event_id(self) -> str: ...

    @property
    def stream_id(self) -> str: ...

    @property
    def stream_version(self) -> int: ...

    @property
    def event_type(self) -> str: ...

    @property
    def schema_version(self) -> int: ...

    @property
    def recorded_at(self) -> dt.datetime: ...

    @property
    def data(self) -> bytes: ...

    @property
    def metadata(self) -> bytes: ...


def event_hash(previous_hash: str, event: Hashable) -> str:
    """sha256(previous hash ‖ header ‖ data ‖ metadata), as lowercase hex."""
    header = msgspec.json.encode(
        [
            event.event_id,
            event.stream_id,
            event.stream_version,
            event.event_type,
            event.schema_version,
            canonical_instant(event.recorded_at),
            len(event.data),
            len(event.metadata),
        ]
    )
    digest = hashlib.sha256(bytes.fromhex(previous_hash))
    for part in (header, b"\n", event.data, event.metadata):
        digest.update(part)
    return digest.hexdigest()
