"""Auditors over HTTP: verification, as-of reads, metadata in the history."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api


@pytest.mark.feed
def test_auditors_verify_the_log_and_others_may_not(api: Api) -> None:
    api.record()
    response = api.get("/api/v1/audit/verify", who="carol")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["events"] == 1 and body["first_mismatch"] is None
    assert body["held_back"] == 0  # nothing else writes to this database
    assert len(body["digest"]) == 64
    assert api.get("/api/v1/audit/verify", who="alice").status_code == 403


def test_the_list_and_detail_as_of_a_past_position(api: Api) -> None:
    first = api.record().json()
    second = api.record().json()
    url = f"/api/v1/backtests/{first['backtest_id']}"
    assert api.client.delete(url, headers=api.auth("alice")).status_code == 204
    now = api.get("/api/v1/backtests").json()["items"]
    then = api.get("/api/v1/backtests", as_of=f"position:{second['position']}").json()["items"]
    assert [i["backtest_id"] for i in now] == [second["backtest_id"]]
    assert [i["backtest_id"] for i in then] == [second["backtest_id"], first["backtest_id"]]
    before = api.get("/api/v1/backtests", as_of=first["created_at"]).json()["items"]
    assert [i["backtest_id"] for i in before] == [first["backtest_id"]]
    assert api.get(url).status_code == 404
    assert api.get(url, as_of=f"position:{first['position']}").status_code == 200
    for bad in ("yesterday", "position:x", "2026-01-01T00:00:00", "position:999"):
        response = api.get("/api/v1/backtests", as_of=bad)
        assert response.status_code == 400, bad
        assert response.headers["content-type"].startswith("application/problem+json")


def test_the_history_shows_who_did_what_and_why(api: Api) -> None:
    created = api.record(
        **{"X-Request-ID": "req-1", "X-Correlation-ID": "batch-9", "Idempotency-Key": "k"}
    ).json()
    history = api.get(f"/api/v1/backtests/{created['backtest_id']}/history", who="carol").json()
    meta = history["events"][0]["metadata"]
    assert meta["request_id"] == "req-1" and meta["correlation_id"] == "batch-9"
    assert meta["causation_id"] == "req-1" and meta["idempotency_key"] == "k"
    assert meta["actor_id"]


def test_trace_ids_that_are_too_long_or_odd_are_replaced_by_fresh_ones(api: Api) -> None:
    import uuid

    for bad in ("r" * 201, "<script>alert(1)</script>", "a b", "line\tbreak", "semi;colon"):
        created = api.record(**{"X-Request-ID": bad, "X-Correlation-ID": bad,
                                "X-Causation-ID": bad}).json()  # fmt: skip
        history = api.get(f"/api/v1/backtests/{created['backtest_id']}/history").json()
        meta = history["events"][0]["metadata"]
        assert uuid.UUID(meta["request_id"]), bad  # a fresh id, not the header
        assert meta["correlation_id"] == meta["causation_id"] == meta["request_id"], bad
    kept = api.record(**{"X-Request-ID": "job-7/step:2@host=a+b." + "x" * 177}).json()
    meta = api.get(f"/api/v1/backtests/{kept['backtest_id']}/history").json()["events"][0]
    assert meta["metadata"]["request_id"] == "job-7/step:2@host=a+b." + "x" * 177  # 200 chars
