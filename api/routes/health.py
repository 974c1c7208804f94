"""GET /health: liveness and database reachability, no auth."""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from litestar import get
from litestar.datastructures import State
from litestar.response import Response

from infrastructure.database import read_connection


class Health(msgspec.Struct, frozen=True):
    status: str
    database: str


@get("/health", operation_id="health", sync_to_thread=True, tags=["service"])
def health(state: State) -> Response[Health]:
    """Liveness, and whether the database answers (503 when it does not)."""
    engine: sa.Engine = state.engine
    try:
        with read_connection(engine) as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return Response(Health("degraded", "down"), status_code=503)
    return Response(Health("ok", "up"), status_code=200)
