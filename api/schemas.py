"""Wire types of the HTTP API that are not read-model views: problems and events."""

from __future__ import annotations

import msgspec

from infrastructure.log_file import LoggedEvent


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
    token: str | None = None  # a bad search expression: the token it stopped at
    offset: int | None = None  # ... and that token's character offset


# The API serves events in the very shape of the auditors' NDJSON export.
EventOut = LoggedEvent


class EventPage(msgspec.Struct, frozen=True):
    """A page of the event feed; pass ``next_after`` as ``after`` to continue."""

    events: list[EventOut]
    next_after: int


class StreamHistory(msgspec.Struct, frozen=True):
    backtest_id: str
    events: list[EventOut]
