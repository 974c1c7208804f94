"""The Litestar application factory: wires settings, the engine and the routes."""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from infrastructure.database import create_engine
from infrastructure.settings import Settings


class Health(msgspec.Struct, frozen=True):
    status: str
    database: str


@get("/health", operation_id="health", sync_to_thread=True)
def health(state: State) -> Response[Health]:
    """Liveness, and whether the database answers."""
    engine: sa.Engine = state.engine
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return Response(Health("degraded", "down"), status_code=HTTP_503_SERVICE_UNAVAILABLE)
    return Response(Health("ok", "up"), status_code=HTTP_200_OK)


def create_app(settings: Settings | None = None) -> Litestar:
    """The backtest-ledger app for ``settings`` (read from the environment by default)."""
    settings = settings or Settings()
    engine = create_engine(settings.database_url)

    def dispose() -> None:
        engine.dispose()

    return Litestar(
        route_handlers=[health],
        state=State({"engine": engine, "settings": settings}),
        on_shutdown=[dispose],
        request_max_body_size=settings.max_body_bytes,
    )
