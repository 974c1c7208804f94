"""Every event the write path accepts reads back, and one event that cannot be read
never stops a rebuild or a verify of the rest of the log (both stores).

The first tests replay the request that once poisoned the log: intraday bars seconds
apart on a 24/7 market, whose inferred annualisation (365 × 86,400 / step) was above
the body's own cap, so the stored event failed its own decoder. The others plant an
event this version cannot read, as a future bug might store one, and check what an
operator and a reader then see.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa

from api.cli import main as cli
from infrastructure.audit import verify_log
from infrastructure.event_store import load_stream
from infrastructure.tables import backtests
from projections.rebuild import rebuild, verify
from tests.api.conftest import Api
from tests.factories import backtest_document
from tests.integration.test_event_versions import store_old

SATURDAY = dt.datetime(2024, 1, 6, tzinfo=dt.UTC)


def seconds_apart(step: int, rows: int = 2_000) -> dict[str, Any]:
    """A 24/7 backtest of ``rows`` bars ``step`` seconds apart from a Saturday, with no
    periods_per_year: the service infers it."""
    doc = backtest_document(days=1, trades=0)
    doc.pop("periods_per_year")
    doc["interval"] = f"{step}s"
    doc["daily_results"] = [
        {"time": (SATURDAY + dt.timedelta(seconds=step * i)).isoformat(), "equity": 1e4 + i}
        for i in range(rows)
    ]
    return doc


@pytest.mark.parametrize("step", [1, 10, 30])
def test_bars_seconds_apart_record_and_every_command_and_rebuild_reads_them(
    api: Api, step: int
) -> None:
    recorded = api.record(document=seconds_apart(step))
    assert recorded.status_code == 201, recorded.text
    backtest_id = recorded.json()["backtest_id"]
    # a year of bars a step apart, every day: 365 × 86,400 / step
    detail = api.get(f"/api/v1/backtests/{backtest_id}").json()
    assert detail["periods_per_year"] == 365 * 86_400 // step
    assert detail["bar_size"] == f"{step}s"

    history = api.get(f"/api/v1/backtests/{backtest_id}/history")
    assert history.status_code == 200, history.text
    excluded = api.client.post(
        f"/api/v1/backtests/{backtest_id}/exclusion",
        content=json.dumps({"reason": "a probe"}).encode(),
        headers={**api.auth("alice"), "Content-Type": "application/json"},
    )
    assert excluded.status_code == 201, excluded.text
    deleted = api.client.delete(f"/api/v1/backtests/{backtest_id}", headers=api.auth("alice"))
    assert deleted.status_code == 204, deleted.text

    report = rebuild(api.engine)
    assert report.ok and report.replayed == 3
    assert verify(api.engine).ok


def plant_unreadable(api: Api) -> tuple[str, int]:
    """A BacktestRecorded of alice's, stored under the current schema version but with
    no daily results: this version's decoder refuses it. Returns its stream and position."""
    with api.engine.connect() as conn:
        alice = conn.execute(sa.text("SELECT user_id FROM users WHERE name = 'alice'")).scalar()
    submission = backtest_document(days=5)
    del submission["daily_results"]
    stream = store_old(api.engine, str(alice), submission, version=4)
    with api.engine.connect() as conn:
        [stored] = load_stream(conn, stream)
    return stream, stored.position


def projected_as_when_written(api: Api, stream: str, like: str) -> None:
    """The list row the version that wrote ``stream`` projected (a copy of ``like``'s):
    reads check whose a backtest is in the read model before they read its stream."""
    with api.engine.begin() as conn:
        row = conn.execute(sa.select(backtests).where(backtests.c.backtest_id == like)).one()
        conn.execute(backtests.insert().values({**row._asdict(), "backtest_id": stream}))


def test_a_rebuild_skips_an_unreadable_stream_names_it_and_rebuilds_the_rest(api: Api) -> None:
    good = api.record().json()["backtest_id"]
    bad, position = plant_unreadable(api)
    after = api.record(document=backtest_document(seed=2)).json()["backtest_id"]

    report = rebuild(api.engine)
    assert report.replayed == 3
    [skipped] = report.skipped
    assert (skipped.stream_id, skipped.position) == (bad, position)
    assert "daily_results" in skipped.error

    listed = {item["backtest_id"] for item in api.get("/api/v1/backtests").json()["items"]}
    assert listed == {good, after}
    checked = verify(api.engine)
    assert not checked.ok and checked.mismatches == []
    assert [(s.stream_id, s.position) for s in checked.skipped] == [(bad, position)]
    # the hash chain is over the stored bytes: the auditor's check still passes
    assert verify_log(api.engine).ok


def test_the_cli_rebuild_and_verify_exit_1_naming_the_stream(
    api: Api, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    api.record()
    bad, position = plant_unreadable(api)

    assert cli(["--database-url", database_url, "projections", "rebuild"]) == 1
    assert f"SKIPPED stream {bad} at position {position}" in capsys.readouterr().err

    assert cli(["--database-url", database_url, "projections", "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["backtests"] == 2 and report["mismatches"] == []
    assert [(s["stream_id"], s["position"]) for s in report["skipped"]] == [(bad, position)]

    assert cli(["--database-url", database_url, "audit", "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_reading_an_unreadable_stream_is_a_problem_naming_the_event(api: Api) -> None:
    """A command on the stream must decode it: a problem naming the event. Its history
    shows the stored events as they are, which is what an operator needs to repair it."""
    bad, position = plant_unreadable(api)
    projected_as_when_written(api, bad, like=api.record().json()["backtest_id"])
    history = api.get(f"/api/v1/backtests/{bad}/history")
    assert history.status_code == 200
    [event] = history.json()["events"]
    assert event["position"] == position and "daily_results" not in event["data"]["submission"]
    for response in (
        api.client.delete(f"/api/v1/backtests/{bad}", headers=api.auth("alice")),
        api.client.post(f"/api/v1/backtests/{bad}/exclusion", json={"reason": "x"},
                        headers=api.auth("alice")),
    ):  # fmt: skip
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert f"event at position {position}" in problem["detail"]
        assert bad in problem["detail"]
        assert "Traceback" not in response.text
