"""The backtest routes over HTTP, on both stores."""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest

from projections.documents import stream_document
from tests.api.conftest import Api
from tests.factories import backtest_document, body

PROBLEM = "application/problem+json"


def test_recording_answers_201_and_the_backtest_is_readable_at_once(api: Api) -> None:
    doc = backtest_document(days=40, trades=3)
    doc["daily_results"][4]["equity"] = float("nan")
    doc["trades"][1]["pnl"] = float("-inf")
    assert b"NaN" in body(doc)
    response = api.record(document=doc)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert set(answer) == {"backtest_id", "position", "created_at"}
    assert response.headers["location"] == f"/api/v1/backtests/{answer['backtest_id']}"
    detail = api.get(f"/api/v1/backtests/{answer['backtest_id']}")
    assert detail.status_code == 200
    d = detail.json()
    assert d["position"] == answer["position"]
    assert d["sanitized_fields"] == ["/daily_results/4/equity", "/trades/1/pnl"]
    assert d["daily_results"][4]["equity"] is None and d["trades"][1]["pnl"] is None
    assert d["daily_results"][5]["equity"] == doc["daily_results"][5]["equity"]
    assert set(d["metrics"]) == {
        "total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
        "calmar", "num_trades", "win_rate", "profit_factor",
        "beta", "alpha", "information_ratio", "tracking_error",
    }  # fmt: skip
    # no benchmark_return on any row: every figure against it is null, none is 0
    assert [d["metrics"][n] for n in ("beta", "alpha", "information_ratio")] == [None] * 3
    assert d["relative"]["pairs"] == 0 and d["relative"]["correlation"] is None
    listed = api.get("/api/v1/backtests").json()
    assert [i["backtest_id"] for i in listed["items"]] == [answer["backtest_id"]]


def test_invalid_backtests_are_422_naming_fields_and_record_nothing(api: Api) -> None:
    doc = backtest_document(days=5)
    doc["daily_results"][2]["date"] = "2020-01-01"
    response = api.record(document=doc)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] and problem["type"]
    assert problem["errors"][0]["pointer"] == "/daily_results/2/date"
    assert api.event_count() == 0


@pytest.mark.parametrize("raw", [b"{", b'{"a": }', b"\xff\xfe", b'{"symbol": "x",'])
def test_malformed_json_is_400(api: Api, raw: bytes) -> None:
    response = api.client.post(
        "/api/v1/backtests",
        content=raw,
        headers={**api.auth("alice"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "Traceback" not in response.text
    assert api.event_count() == 0


def test_wrong_content_type_is_415(api: Api) -> None:
    response = api.client.post(
        "/api/v1/backtests",
        content=body(backtest_document()),
        headers={**api.auth("alice"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 415 and api.event_count() == 0


def test_a_body_over_the_limit_is_413_and_records_nothing(api: Api) -> None:
    doc = backtest_document(days=3)
    doc["parameters"] = {"blob": "x" * (3 * 1024 * 1024)}
    response = api.record(document=doc)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM)
    assert api.event_count() == 0


def test_the_list_pages_with_an_opaque_cursor_and_filters(api: Api) -> None:
    ids = [
        api.record(document=backtest_document(seed=i, strategy="a" if i % 2 else "b")).json()[
            "backtest_id"
        ]
        for i in range(5)
    ]
    first = api.get("/api/v1/backtests", limit=2).json()
    second = api.get("/api/v1/backtests", limit=2, cursor=first["next_cursor"]).json()
    third = api.get("/api/v1/backtests", limit=2, cursor=second["next_cursor"]).json()
    seen = [i["backtest_id"] for page in (first, second, third) for i in page["items"]]
    assert seen == ids[::-1] and third["next_cursor"] is None
    only_a = api.get("/api/v1/backtests", strategy="a").json()["items"]
    assert [i["backtest_id"] for i in only_a] == [ids[3], ids[1]]
    assert api.get("/api/v1/backtests", symbol="NOPE").json()["items"] == []


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"cursor": "not-a-cursor"}]
)
def test_bad_list_parameters_are_400(api: Api, params: dict[str, object]) -> None:
    response = api.get("/api/v1/backtests", **params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


def test_delete_is_204_then_404_and_the_history_keeps_both_events(api: Api) -> None:
    backtest_id = api.record().json()["backtest_id"]
    url = f"/api/v1/backtests/{backtest_id}"
    headers = {**api.auth("alice"), "X-Request-ID": "req-42"}
    assert api.client.delete(url, headers=headers).status_code == 204
    again = api.client.delete(url, headers=api.auth("alice"))
    assert again.status_code == 404 and again.headers["content-type"].startswith(PROBLEM)
    assert api.get(url).status_code == 404
    history = api.get(f"{url}/history").json()
    assert [e["event_type"] for e in history["events"]] == ["BacktestRecorded", "BacktestDeleted"]
    deleted = history["events"][1]
    assert deleted["metadata"]["request_id"] == "req-42"
    assert deleted["data"] == {"type": "BacktestDeleted", "backtest_id": backtest_id}


def test_csv_downloads_stream_the_exported_bytes(api: Api) -> None:
    doc = backtest_document(days=30, trades=12, symbol='BAD"SYM\r\nX-Evil: 1 é')
    backtest_id = api.record(document=doc).json()["backtest_id"]
    for kind in ("daily", "monthly", "trades"):
        response = api.get(f"/api/v1/backtests/{backtest_id}/{kind}.csv")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="BAD_SYM__X-Evil__1___')
        assert f'_{backtest_id}_{kind}.csv"' in disposition
        assert "\r" not in disposition and "\n" not in disposition
        assert "x-evil" not in {k.lower() for k in response.headers}
        expected = b"".join(stream_document(api.engine, backtest_id, kind))  # type: ignore[arg-type]
        assert response.content == expected
    trades = pd.read_csv(io.BytesIO(api.get(f"/api/v1/backtests/{backtest_id}/trades.csv").content))
    assert list(trades["pnl"]) == [t["pnl"] for t in doc["trades"]]


def test_auditors_read_everyone_but_cannot_write(api: Api) -> None:
    backtest_id = api.record("alice").json()["backtest_id"]
    assert api.get(f"/api/v1/backtests/{backtest_id}", who="carol").status_code == 200
    assert api.get(f"/api/v1/backtests/{backtest_id}/daily.csv", who="carol").status_code == 200
    listed = api.get("/api/v1/backtests", who="carol").json()["items"]
    assert [i["backtest_id"] for i in listed] == [backtest_id]
    assert api.record("carol").status_code == 403
    deleting = api.client.delete(f"/api/v1/backtests/{backtest_id}", headers=api.auth("carol"))
    assert deleting.status_code == 403
    assert api.event_count() == 1


def test_non_finite_values_come_back_as_null_never_zero(api: Api) -> None:
    doc = backtest_document(days=4)
    doc["daily_results"][1]["return"] = float("inf")
    backtest_id = api.record(document=doc).json()["backtest_id"]
    d = api.get(f"/api/v1/backtests/{backtest_id}").json()
    assert d["daily_results"][1]["return"] is None
    assert json.loads(api.get(f"/api/v1/backtests/{backtest_id}").text) == d
    daily = pd.read_csv(io.BytesIO(api.get(f"/api/v1/backtests/{backtest_id}/daily.csv").content))
    assert math.isnan(daily["return"][1])
