"""GET /health: liveness and database reachability, no auth; with standbys, each one's
state and lag."""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.response import Response

from api.auth import authenticate_client
from infrastructure.database import read_connection
from infrastructure.event_store import FeedHold, feed_hold
from infrastructure.replicas import ReadRouting
from infrastructure.users import Role


class StandbyHealth(msgspec.Struct, frozen=True):
    name: str  # its URL, without a password
    database: str  # "up", "lagging" (out of rotation until it catches up) or "down"
    lag_seconds: float | None
    error: str | None = None


class Health(msgspec.Struct, frozen=True, omit_defaults=True):
    status: str
    database: str
    replicas: list[StandbyHealth] = msgspec.field(default_factory=list)
    # for an auditor's key only: how far the event feed is held back, and by what
    feed: FeedHold | None = None


def _standbys(routing: ReadRouting) -> list[StandbyHealth]:
    found = []
    for replica in routing.replicas:
        if not replica.check():
            found.append(StandbyHealth(replica.name, "down", None, replica.error))
            continue
        lag = replica.lag_s or 0.0
        state = "up" if lag <= routing.max_lag_s else "lagging"
        found.append(StandbyHealth(replica.name, state, round(lag, 3)))
    return found


@get("/health", operation_id="health", sync_to_thread=True, tags=["service"])
def health(state: State, request: Request[Any, Any, Any]) -> Response[Health]:
    """Liveness, and whether the database answers (503 when it does not). With standbys:
    each one's state and replay lag; the service is "degraded" (still 200, reads come
    from the primary) while one is down or lagging, and 503 only when no database
    answers at all. With an auditor's key, also how far the event feed is held back
    (``feed``: events not yet released, and the age and database of the oldest open
    transaction on the server, which holds them)."""
    routing: ReadRouting = state.routing
    standbys = _standbys(routing)
    try:
        with read_connection(routing.primary) as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        serving = any(s.database == "up" for s in standbys)
        return Response(Health("degraded", "down", standbys), status_code=200 if serving else 503)
    status = "ok" if all(s.database == "up" for s in standbys) else "degraded"
    return Response(Health(status, "up", standbys, _feed_for_auditor(request)), status_code=200)


def _feed_for_auditor(request: Request[Any, Any, Any]) -> FeedHold | None:
    """The feed's hold, when the caller presents an auditor's key (wrong keys count
    against the address as anywhere); nothing for anyone else, and no 401: liveness
    probes send no key."""
    scheme, _, api_key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not api_key.strip():
        return None
    engine = request.app.state.engine
    try:
        with read_connection(engine) as conn:
            user = authenticate_client(request, conn, api_key.strip())
            return feed_hold(conn) if user.role is Role.AUDITOR else None
    except (NotAuthorizedException, TooManyRequestsException):
        return None
