"""Page cursors are sealed by the service: one it handed out continues the list on
any node of the deployment; any other (forged, altered, or another deployment's) is a
400 before any of its values reaches a store."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from infrastructure.settings import Settings
from tests.api.conftest import Api
from tests.factories import backtest_document


def unsealed(values: list[Any]) -> str:
    """A cursor as a client could forge one: the values without the service's seal."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def resealed(cursor: str, values: list[Any]) -> str:
    """A handed-out cursor whose values were changed and whose seal was kept."""
    return unsealed(values) + "." + cursor.partition(".")[2]


@pytest.fixture
def three(api: Api) -> Api:
    for seed in range(3):
        doc = backtest_document(days=5, trades=1, seed=seed)
        doc["experiment"] = "grid"
        assert api.record(document=doc).status_code == 201
    return api


@pytest.mark.parametrize("sort", [None, "position", "experiment", "-sharpe", "created_at"])
def test_a_handed_out_cursor_continues_and_any_altered_one_is_a_400(
    three: Api, sort: str | None
) -> None:
    sorting = {"sort": sort} if sort else {}
    first = three.get("/api/v1/backtests", limit=2, **sorting).json()
    cursor = first["next_cursor"]
    rest = three.get("/api/v1/backtests", limit=2, cursor=cursor, **sorting)
    assert rest.status_code == 200 and len(rest.json()["items"]) == 1
    seen = {i["backtest_id"] for i in first["items"] + rest.json()["items"]}
    assert len(seen) == 3

    body, _, tag = cursor.partition(".")
    flipped = tag[:-2] + ("A" if tag[-2] != "A" else "B") + tag[-1]
    for bad in [body, body + "." + flipped, body + ".", "." + tag, "a.b.c", "%00", "x" * 500]:
        answer = three.get("/api/v1/backtests", limit=2, cursor=bad, **sorting)
        assert answer.status_code == 400, (bad, answer.status_code, answer.text[:200])
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "cursor" in answer.json()["detail"]


# Each of these was a 500 on PostgreSQL while cursors were unsealed: values no stored
# row can hold, passed to the store as bound parameters.
FORGED = {
    "position-past-64-bits": ("position", ["position", 2**70, "x"]),
    "experiment-with-nul": ("experiment", ["experiment", "a\x00b", "x"]),
    "time-before-year-1": ("created_at", ["created_at", "0001-01-01T00:00:00+14:00", "x"]),
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_cursor_values_are_a_400_sealed_or_not(three: Api, name: str) -> None:
    sort, values = FORGED[name]
    handed_out = three.get("/api/v1/backtests", limit=1, sort=sort).json()["next_cursor"]
    for forged in (unsealed(values), resealed(handed_out, values)):
        answer = three.get("/api/v1/backtests", limit=2, sort=sort, cursor=forged)
        assert answer.status_code == 400, (forged, answer.text[:200])


def test_another_node_with_the_services_secret_accepts_the_cursor_another_refuses_it(
    three: Api, database_url: str, tmp_path: Any
) -> None:
    def node(secret: str) -> TestClient[Any]:
        settings = Settings(database_url=database_url, session_secret=secret,
                            state_dir=str(tmp_path))  # fmt: skip
        return TestClient(app=create_app(settings))

    auth = three.auth("alice")
    with node("one deployment") as one:
        cursor = one.get("/api/v1/backtests?limit=2", headers=auth).json()["next_cursor"]
    with node("one deployment") as same:
        answer = same.get("/api/v1/backtests", params={"limit": 2, "cursor": cursor}, headers=auth)
        assert answer.status_code == 200 and len(answer.json()["items"]) == 1
    with node("another deployment") as other:
        answer = other.get("/api/v1/backtests", params={"limit": 2, "cursor": cursor}, headers=auth)
        assert answer.status_code == 400
