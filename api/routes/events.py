"""/api/v1/events: the event feed in replay order, for auditors."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import QueryParameter

from api.auth import requires
from api.reads import read_engine
from api.schemas import EventOut, EventPage
from infrastructure.database import read_connection
from infrastructure.event_store import read_feed
from infrastructure.users import Role, User

# The largest position a JSON number carries exactly (2^53 - 1; no log will reach it):
# a bound the OpenAPI document states must read back as written, and 2^63 - 1 reads
# as 2^63 in a double.
MAX_EXACT_POSITION = 2**53 - 1


@get(
    "/events",
    operation_id="readEventFeed",
    guards=[requires(Role.AUDITOR)],
    sync_to_thread=True,
    tags=["audit"],
)
def event_feed(
    request: Request[User, Any, State],
    after: Annotated[
        int,
        QueryParameter(ge=0, le=MAX_EXACT_POSITION, description="position of the last event seen"),
    ] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 1000,
) -> EventPage:
    """The log in feed (replay) order, right after the event at position ``after``.

    Never skips: an event whose transaction may still commit is held back until it has,
    so a reader that continues from ``next_after`` sees every event exactly once."""
    with read_connection(read_engine(request)) as conn:
        batch = read_feed(conn, after, limit)
    return EventPage([EventOut.of(e) for e in batch], batch[-1].position if batch else after)
