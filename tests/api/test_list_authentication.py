"""The list looks its caller up on the connection it reads with (one thread hop and one
pooled connection per request), and still answers exactly as the middleware does."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from infrastructure.database import write_transaction
from infrastructure.users import revoke_user
from tests.api.conftest import Api


def _checkouts(api: Api, path: str, **params: Any) -> tuple[int, int]:
    """The status of GET ``path`` and how many pooled connections it checked out."""
    engine: sa.Engine = api.client.app.state.engine
    taken: list[object] = []

    def count(*_: object) -> None:
        taken.append(None)

    sa.event.listen(engine, "checkout", count)
    try:
        status = api.get(path, **params).status_code
    finally:
        sa.event.remove(engine, "checkout", count)
    return status, len(taken)


def test_the_list_reads_with_the_connection_that_found_its_caller(api: Api) -> None:
    backtest_id = api.record().json()["backtest_id"]
    assert _checkouts(api, "/api/v1/backtests") == (200, 1)
    # The control: a route authenticated by the middleware takes a connection for the
    # caller and one for its read.
    assert _checkouts(api, f"/api/v1/backtests/{backtest_id}") == (200, 2)


def test_the_list_answers_callers_as_every_other_route_does(api: Api) -> None:
    api.record()
    listed = api.get("/api/v1/backtests").json()["items"]
    assert len(listed) == 1
    assert api.get("/api/v1/backtests", who="bob").json()["items"] == []
    assert len(api.get("/api/v1/backtests", who="carol").json()["items"]) == 1  # auditor

    admin = api.get("/api/v1/backtests", who="dave")
    assert admin.status_code == 403 and "user or auditor" in admin.json()["detail"]
    unknown = api.client.get("/api/v1/backtests", headers={"Authorization": "Bearer btl_nope"})
    assert unknown.status_code == 401 and unknown.json()["detail"] == "the API key is not valid"
    # A request with no key is refused before its parameters are looked at.
    bare = api.client.get("/api/v1/backtests", params={"limit": 0})
    assert bare.status_code == 401

    with write_transaction(api.engine) as conn:
        revoke_user(conn, "alice")
    assert api.get("/api/v1/backtests").status_code == 401
