"""Per-key request limits: 429 problem with Retry-After, counted per key."""

from __future__ import annotations

from litestar.testing import TestClient

from api.app import create_app
from infrastructure.settings import Settings
from tests.api.conftest import Api


def test_each_key_gets_its_own_budget_then_429_with_retry_after(
    api: Api, database_url: str
) -> None:
    app = create_app(Settings(database_url=database_url, rate_limit_per_minute=5))
    with TestClient(app=app) as client:
        alice = {"Authorization": f"Bearer {api.keys['alice']}"}
        statuses = [client.get("/api/v1/backtests", headers=alice).status_code for _ in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        limited = client.get("/api/v1/backtests", headers=alice)
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert int(limited.headers["retry-after"]) > 0
        bob = {"Authorization": f"Bearer {api.keys['bob']}"}
        assert client.get("/api/v1/backtests", headers=bob).status_code == 200
        assert client.get("/health").status_code == 200
