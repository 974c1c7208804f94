"""An HTTP client on the real Litestar app, over a real database, with four users."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from api.app import create_app
from infrastructure.database import create_engine, write_transaction
from infrastructure.settings import Settings
from infrastructure.users import Role, create_user
from tests.conftest import STORES, store_url
from tests.factories import backtest_document, body
from tests.migrated import migrate


@dataclass
class Api:
    client: TestClient[Any]
    engine: sa.Engine
    keys: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def record(self, who: str = "alice", document: dict[str, Any] | None = None, **headers: str):  # type: ignore[no-untyped-def]
        return self.client.post(
            "/api/v1/backtests",
            content=body(document or backtest_document()),
            headers={**self.auth(who), "Content-Type": "application/json", **headers},
        )

    def get(self, path: str, who: str = "alice", **params: Any):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=self.auth(who), params=params)

    def event_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one())


def clear_of_a_new_minute(seconds: float) -> None:
    """Wait, if need be, until the next ``seconds`` fall within one clock minute: rate
    limits count per minute, and a test's requests must not straddle two."""
    import time

    if time.time() % 60 > 60 - seconds:
        time.sleep(60 - time.time() % 60 + 0.05)


def make_keys(engine: sa.Engine) -> dict[str, str]:
    keys = {}
    with write_transaction(engine) as conn:
        for name, role in [("alice", Role.USER), ("bob", Role.USER),
                           ("carol", Role.AUDITOR), ("dave", Role.ADMIN)]:  # fmt: skip
            keys[name] = create_user(conn, name, role)[1]
    return keys


def _api_on(engine: sa.Engine, database_url: str, analysis_workers: int = 0) -> Iterator[Api]:
    keys = make_keys(engine)
    app = create_app(Settings(database_url=database_url, max_body_bytes=2 * 1024 * 1024,
                              analysis_workers=analysis_workers))  # fmt: skip
    with TestClient(app=app) as client:
        yield Api(client, engine, keys)


@pytest.fixture
def api(engine: sa.Engine, database_url: str) -> Iterator[Api]:
    yield from _api_on(engine, database_url)


@pytest.fixture
def analysing_api(engine: sa.Engine, database_url: str) -> Iterator[Api]:
    """``api`` with the service's own analysis worker running."""
    yield from _api_on(engine, database_url, analysis_workers=1)


@pytest.fixture(scope="module", params=STORES)
def shared_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """One API per store shared by a module's tests that record nothing and leave the
    client as they found it (a test of bad input): a fresh database and app cost about
    0.3 s, most of such a test's time. Such a test compares the log before and after."""
    with store_url(request.param, request, tmp_path_factory.mktemp("shared")) as url:
        engine = create_engine(url)
        migrate(engine)
        try:
            yield from _api_on(engine, url)
        finally:
            engine.dispose()
