"""The service answers /health over HTTP on both stores (real app, real database)."""

from __future__ import annotations

import sqlalchemy as sa
from litestar.testing import TestClient

from api.app import create_app
from infrastructure.settings import Settings


def test_health_reports_the_database_up(engine: sa.Engine, database_url: str) -> None:
    with TestClient(app=create_app(Settings(database_url=database_url))) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}


def test_health_reports_an_unreachable_database_as_503() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"
    with TestClient(app=create_app(Settings(database_url=url))) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "down"
