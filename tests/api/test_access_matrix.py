"""Every route × every kind of caller gives the status the HTTP API prescribes."""

from __future__ import annotations

from typing import Any

from infrastructure.database import write_transaction
from infrastructure.users import Role, create_user, revoke_user
from tests.api.conftest import Api
from tests.factories import backtest_document, body

CALLERS = ["owner", "other", "auditor", "admin", "none", "wrong", "revoked"]
READ_OWN = {"owner": 200, "other": 404, "auditor": 200, "admin": 403}
UNAUTHENTICATED = {"none": 401, "wrong": 401, "revoked": 401}

EXPECTED: dict[str, dict[str, int]] = {
    "POST /backtests": {"owner": 201, "other": 201, "auditor": 403, "admin": 403},
    "GET /backtests": {"owner": 200, "other": 200, "auditor": 200, "admin": 403},
    "GET /backtests/{id}": READ_OWN,
    "GET /backtests/{id}/daily.csv": READ_OWN,
    "GET /backtests/{id}/monthly.csv": READ_OWN,
    "GET /backtests/{id}/trades.csv": READ_OWN,
    "GET /backtests/{id}/history": READ_OWN,
    "GET /backtests/{id}/significance?samples=100": READ_OWN,
    "GET /backtests/compare?ids={id},{id2}": READ_OWN,
    "GET /backtests?sort=-sharpe&where=sharpe%20%3E%20-100&experiment=grid": {
        "owner": 200,
        "other": 200,
        "auditor": 200,
        "admin": 403,
    },
    "GET /experiments": {"owner": 200, "other": 200, "auditor": 200, "admin": 403},
    "GET /experiments/grid/backtests.csv": READ_OWN,
    "GET /experiments/grid/backtests.parquet?sort=-sharpe": READ_OWN,
    "DELETE /backtests/{fresh}": {"owner": 204, "other": 404, "auditor": 403, "admin": 403},
    "GET /events": {"owner": 403, "other": 403, "auditor": 200, "admin": 403},
    "GET /audit/verify": {"owner": 403, "other": 403, "auditor": 200, "admin": 403},
    "GET /whoami": {"owner": 200, "other": 200, "auditor": 200, "admin": 200},
}


def headers_for(api: Api, caller: str, revoked_key: str) -> dict[str, str]:
    keys = {"owner": "alice", "other": "bob", "auditor": "carol", "admin": "dave"}
    if caller in keys:
        return api.auth(keys[caller])
    token = {"none": None, "wrong": "btl_not-a-key", "revoked": revoked_key}[caller]
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def test_the_access_matrix(api: Api) -> None:
    with write_transaction(api.engine) as conn:
        _, revoked_key = create_user(conn, "erin", Role.USER)
        revoke_user(conn, "erin")
    in_grid = dict(backtest_document(), experiment="grid")
    ids = [api.record("alice", in_grid).json()["backtest_id"] for _ in range(2)]
    got: dict[str, dict[str, int]] = {}
    for route in EXPECTED:
        method, template = route.split(" ", 1)
        got[route] = {}
        for caller in CALLERS:
            fresh = api.record("alice").json()["backtest_id"] if "{fresh}" in template else ""
            path = "/api/v1" + template.format(id=ids[0], id2=ids[1], fresh=fresh)
            kwargs: dict[str, Any] = {"headers": headers_for(api, caller, revoked_key)}
            if method == "POST":
                kwargs["content"] = body(backtest_document(days=5))
                kwargs["headers"]["Content-Type"] = "application/json"
            got[route][caller] = api.client.request(method, path, **kwargs).status_code
    want = {route: {**cells, **UNAUTHENTICATED} for route, cells in EXPECTED.items()}
    assert got == want
    assert api.client.get("/health").status_code == 200


def test_a_rotated_key_replaces_the_old_one(api: Api) -> None:
    from infrastructure.users import rotate_key

    old = api.keys["alice"]
    with write_transaction(api.engine) as conn:
        _, new = rotate_key(conn, "alice")
    assert (
        api.client.get("/api/v1/backtests", headers={"Authorization": f"Bearer {old}"}).status_code
        == 401
    )
    assert (
        api.client.get("/api/v1/backtests", headers={"Authorization": f"Bearer {new}"}).status_code
        == 200
    )
