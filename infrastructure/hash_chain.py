"""The tamper-evidence hash of an event: sha256(previous hash in its stream ‖ its bytes).

"Its bytes" are the stored column values in a fixed layout: a JSON header of the
scalar columns, then the stored ``data`` and ``metadata`` bytes exactly as kept, so
verifying never depends on re-encoding a float.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import msgspec

GENESIS = "0" * 64


def canonical_instant(moment: dt.datetime) -> str:
    """The one text form of a stored time that the hash covers."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def event_hash(
    previous_hash: str,
    *,
    event_id: str,
    stream_id: str,
    stream_version: int,
    event_type: str,
    schema_version: int,
    recorded_at: dt.datetime,
    data: bytes,
    metadata: bytes,
) -> str:
    header = msgspec.json.encode(
        [
            event_id,
            stream_id,
            stream_version,
            event_type,
            schema_version,
            canonical_instant(recorded_at),
            len(data),
            len(metadata),
        ]
    )
    digest = hashlib.sha256(bytes.fromhex(previous_hash))
    for part in (header, b"\n", data, metadata):
        digest.update(part)
    return digest.hexdigest()
