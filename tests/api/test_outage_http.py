"""An unreachable database gives fast 503 problems, never a 500 or a hang."""

from __future__ import annotations

import time

from litestar.testing import TestClient

from api.app import create_app
from infrastructure.settings import Settings
from tests.factories import backtest_document, body

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/test"


def test_requests_fail_fast_with_503_when_the_database_is_down() -> None:
    with TestClient(app=create_app(Settings(database_url=UNREACHABLE))) as client:
        started = time.monotonic()
        for method, path, content in [
            ("GET", "/api/v1/backtests", None),
            ("POST", "/api/v1/backtests", body(backtest_document())),
        ]:
            response = client.request(
                method, path, content=content,
                headers={"Authorization": "Bearer btl_x", "Content-Type": "application/json"},
            )  # fmt: skip
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.headers["retry-after"]
            problem = response.json()
            assert "psycopg" not in problem["detail"] and "SELECT" not in problem["detail"]
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["database"] == "down"
        assert time.monotonic() - started < 30
