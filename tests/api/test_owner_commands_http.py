"""Commands only a backtest's owner may issue (delete, exclusion) and its history:
someone else's backtest is refused from the read model, its stream never read; and a
command that loses a race to another on the same stream is decided again."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from domain.commands import ExcludeFromTrials
from infrastructure.database import write_transaction
from infrastructure.users import user_by_name
from tests.api.conftest import Api

REFUSED = {
    "history": ("GET", "/history", None),
    "delete": ("DELETE", "", None),
    "exclusion": ("POST", "/exclusion", {"reason": "not mine"}),
}


@pytest.mark.parametrize("route", sorted(REFUSED))
def test_someone_elses_backtest_is_refused_without_reading_its_stream(api: Api, route: str) -> None:
    backtest_id = api.record("alice").json()["backtest_id"]
    method, suffix, body = REFUSED[route]
    statements: list[str] = []

    def seen(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    engine: sa.Engine = api.client.app.state.engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        answer = api.client.request(method, f"/api/v1/backtests/{backtest_id}{suffix}",
                                    json=body, headers=api.auth("bob"))  # fmt: skip
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert answer.status_code == 404, answer.text
    assert statements, "the owner was looked up"
    assert not [s for s in statements if "FROM events" in s], statements
    owners = api.client.request(method, f"/api/v1/backtests/{backtest_id}{suffix}",
                                json=body, headers=api.auth("alice"))  # fmt: skip
    assert owners.status_code in (200, 201, 204), owners.text


def test_a_delete_that_loses_a_race_to_an_exclusion_is_decided_again_and_deletes(
    api: Api,
) -> None:
    """The exclusion's transaction has appended the stream's next version and not yet
    committed when the delete reads the stream; the delete's append then conflicts with
    it. Decided again on the new version, the delete is still valid, and succeeds."""
    backtest_id = api.record("alice").json()["backtest_id"]
    answers: list[int] = []

    def delete() -> None:
        answer = api.client.delete(f"/api/v1/backtests/{backtest_id}", headers=api.auth("alice"))
        answers.append(answer.status_code)

    from api.handlers import RequestContext, _decide_and_append, _metadata

    with write_transaction(api.engine) as conn:
        alice = user_by_name(conn, "alice")
        command = ExcludeFromTrials(backtest_id, alice.user_id, "a test run")
        _decide_and_append(conn, backtest_id, command, _metadata(alice, RequestContext()))
        racing = threading.Thread(target=delete)
        racing.start()
        _wait_until_blocked(api.engine, racing)
    racing.join(timeout=30)
    assert answers == [204]
    history = api.get(f"/api/v1/backtests/{backtest_id}/history").json()["events"]
    assert [e["event_type"] for e in history] == [
        "BacktestRecorded", "BacktestExcludedFromTrials", "BacktestDeleted"]  # fmt: skip
    assert api.get(f"/api/v1/backtests/{backtest_id}").status_code == 404


def _wait_until_blocked(engine: sa.Engine, thread: threading.Thread) -> None:
    """Until the racing command waits on the held transaction: on PostgreSQL, for the
    lock on the stream's next version, seen in pg_stat_activity (bounded); SQLite's
    writers queue at BEGIN IMMEDIATE, which holds no stream version to conflict on."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and thread.is_alive():
        if engine.dialect.name == "sqlite":
            time.sleep(0.5)
            return
        with engine.connect() as conn:
            waiting = conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database() AND query LIKE 'INSERT INTO events%'"
            )).scalar_one()  # fmt: skip
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the racing delete never waited on the held exclusion")
