"""Authentication and access over HTTP: keys, roles, and 404 for what is not yours."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

PROBLEM = "application/problem+json"
ROUTES = ["", "/daily.csv", "/monthly.csv", "/trades.csv", "/history"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer btl_not-a-real-key"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    ],
    ids=["none", "empty", "wrong", "basic"],
)
def test_missing_or_wrong_keys_are_401_problems(api: Api, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/api/v1/backtests"), ("POST", "/api/v1/backtests"),
                         ("GET", "/api/v1/events")]:  # fmt: skip
        response = api.client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert api.event_count() == 0


def test_another_users_backtest_is_404_exactly_like_a_missing_one(api: Api) -> None:
    backtest_id = api.record("alice").json()["backtest_id"]
    missing = "00000000-0000-4000-8000-000000000000"
    for suffix in ROUTES:
        theirs = api.get(f"/api/v1/backtests/{backtest_id}{suffix}", who="bob")
        nothing = api.get(f"/api/v1/backtests/{missing}{suffix}", who="bob")
        assert theirs.status_code == nothing.status_code == 404, suffix
        assert theirs.json()["title"] == nothing.json()["title"]
        assert backtest_id not in theirs.text.replace(f"backtest {backtest_id}", "")
    deleting = api.client.delete(f"/api/v1/backtests/{backtest_id}", headers=api.auth("bob"))
    assert deleting.status_code == 404
    assert api.get(f"/api/v1/backtests/{backtest_id}").status_code == 200
    assert api.get("/api/v1/backtests", who="bob").json()["items"] == []


def test_admins_manage_users_not_backtests(api: Api) -> None:
    assert api.record("dave").status_code == 403
    assert api.get("/api/v1/backtests", who="dave").status_code == 403
    assert api.get("/api/v1/events", who="dave").status_code == 403


def test_only_auditors_read_the_event_feed(api: Api) -> None:
    api.record("alice")
    response = api.get("/api/v1/events", who="alice")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith(PROBLEM)
    assert api.get("/api/v1/events", who="carol").status_code == 200


@pytest.mark.parametrize("path", ["/../../etc/passwd", "/%2e%2e%2fusers", "/' OR 1=1 --"])
def test_hostile_ids_are_404(api: Api, path: str) -> None:
    response = api.get(f"/api/v1/backtests{path}")
    assert response.status_code == 404


def test_whoami_names_the_keys_owner(api: Api) -> None:
    assert api.get("/api/v1/whoami", who="carol").json() == {"name": "carol", "role": "auditor"}
    assert api.client.get("/api/v1/whoami").status_code == 401
