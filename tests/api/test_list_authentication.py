"""The list looks its caller up on the connection it reads with (one thread hop and one
pooled connection per request), and still answers exactly as the middleware does."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from infrastructure.database import write_transaction
from infrastructure.users import revoke_user
from tests.api.conftest import Api
from tests.api.statements import statements_sent


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


def test_the_first_page_is_read_with_its_caller_in_one_statement_on_postgresql(
    api: Api,
) -> None:
    """One round trip for the caller and the page: the list then served 0.52–0.59 times
    the trivial route's requests, each two statements where the trivial route sends
    one. SQLite has no LATERAL: there the caller, then the page. The later pages, a
    search, an auditor's list are read as before, and answer the same."""
    first, _ = api.record().json()["backtest_id"], api.record().json()["backtest_id"]
    with statements_sent() as seen:
        page = api.get("/api/v1/backtests", limit=1, fields="parameters")
    assert page.status_code == 200
    [item] = page.json()["items"]
    assert item["backtest_id"] != first and item["parameters"] is not None  # the newest
    read = [s for s in seen if "users" in s or "backtests" in s]
    if api.engine.dialect.name == "postgresql":
        assert len(read) == 1 and "LATERAL" in read[0], read
    else:
        assert len(read) == 2, read
    # its next page, as before, gives the other one
    rest = api.get("/api/v1/backtests", limit=1, cursor=page.json()["next_cursor"]).json()
    assert [i["backtest_id"] for i in rest["items"]] == [first]
    assert rest["next_cursor"] is None
    # a user with no backtests: a page of none, with no cursor
    assert api.get("/api/v1/backtests", who="bob").json() == {"items": [], "next_cursor": None}
    # an auditor's page is everyone's: the same two, newest first
    everyone = api.get("/api/v1/backtests", who="carol").json()["items"]
    mine = api.get("/api/v1/backtests").json()["items"]
    assert [i["backtest_id"] for i in everyone] == [i["backtest_id"] for i in mine]
    assert len(mine) == 2 and mine[1]["backtest_id"] == first
