"""GET /api/v1/backtests/compare: two to eight backtests side by side."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.api.conftest import Api
from tests.factories import backtest_document


def test_compare_returns_rebased_curves_and_monthly_columns(api: Api) -> None:
    docs = [backtest_document(days=70, seed=1), backtest_document(days=40, seed=2)]
    ids = [api.record(document=d).json()["backtest_id"] for d in docs]
    response = api.get("/api/v1/backtests/compare", ids=",".join(ids))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [b["summary"]["backtest_id"] for b in body["backtests"]] == ids
    first = body["backtests"][0]["curve"]
    assert len(first) == 70
    assert first[0][1] == 1.0  # rebased to the first equity
    e0, e9 = docs[0]["daily_results"][0]["equity"], docs[0]["daily_results"][9]["equity"]
    assert first[9][1] == pytest.approx(e9 / e0, rel=1e-12)
    months = {row["month"]: row["returns"] for row in body["months"]}
    assert set(months) == {"2024-01", "2024-02", "2024-03"}
    assert months["2024-03"][1] is None and months["2024-03"][0] is not None


@pytest.mark.parametrize("count", [1, 9])
def test_compare_needs_two_to_eight_ids(api: Api, count: int) -> None:
    ids = [api.record(document=backtest_document(seed=s)).json()["backtest_id"]
           for s in range(min(count, 2))]  # fmt: skip
    ids = (ids * 9)[:count] if count > 2 else ids[:count]
    response = api.get("/api/v1/backtests/compare", ids=",".join(ids))
    assert response.status_code == 400  # refused by the pattern the OpenAPI document states
    assert response.json()["errors"][0]["pointer"] == "/ids"


def test_compare_with_anothers_backtest_is_404(api: Api) -> None:
    mine = api.record("alice").json()["backtest_id"]
    theirs = api.record("bob").json()["backtest_id"]
    response = api.get("/api/v1/backtests/compare", ids=f"{mine},{theirs}")
    assert response.status_code == 404


def test_full_resolution_is_streamed_across_batches_with_every_day(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from projections import series_parts

    monkeypatch.setattr(series_parts, "PART_ROWS", 7)  # many stored parts from a short backtest
    docs = [backtest_document(days=50, seed=3), backtest_document(days=23, seed=4)]
    ids = [api.record(document=d).json()["backtest_id"] for d in docs]
    response = api.get("/api/v1/backtests/compare", ids=",".join(ids))
    assert response.status_code == 200, response.text
    assert "content-length" not in response.headers  # streamed
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    for doc, compared in zip(docs, body["backtests"], strict=True):
        days = doc["daily_results"]
        assert [p[0] for p in compared["curve"]] == [d["date"] for d in days]
        base = days[0]["equity"]
        equity = pd.Series([d["equity"] for d in days])
        drawdown = (equity / equity.cummax() - 1).tolist()  # across the parts' ends
        for point, day, expected in zip(compared["curve"], days, drawdown, strict=True):
            assert point[1] == pytest.approx(day["equity"] / base, rel=1e-12)
            assert point[2] == expected
    assert body["months"][0]["month"] == "2024-01"
    # the same numbers as the downsampled answer when every point fits
    fitted = api.get("/api/v1/backtests/compare", ids=",".join(ids), points=400).json()
    assert fitted == body


def test_points_keep_each_spans_extremes_over_the_compared_period(api: Api) -> None:
    import datetime as dt

    long = backtest_document(days=1500, seed=5, start=dt.date(2015, 1, 1))
    short = backtest_document(days=200, seed=6, start=dt.date(2017, 6, 1))
    ids = [api.record(document=d).json()["backtest_id"] for d in (long, short)]
    full = api.get("/api/v1/backtests/compare", ids=",".join(ids)).json()
    points = 40
    cut = api.get("/api/v1/backtests/compare", ids=",".join(ids), points=points).json()
    curves = [b["curve"] for b in full["backtests"]]
    first = min(dt.date.fromisoformat(c[0][0]).toordinal() for c in curves)
    last = max(dt.date.fromisoformat(c[-1][0]).toordinal() for c in curves)
    spans = points // 4

    def span(day: str) -> int:
        return (dt.date.fromisoformat(day).toordinal() - first) * spans // (last - first + 1)

    for whole, kept in zip(curves, (b["curve"] for b in cut["backtests"]), strict=True):
        assert len(kept) <= points
        assert set(map(tuple, kept)) <= set(map(tuple, whole))  # real days, exact values
        for s in {span(p[0]) for p in whole}:
            inside = [p for p in whole if span(p[0]) == s]
            shown = [p for p in kept if span(p[0]) == s]
            for column in (1, 2):
                values = [p[column] for p in inside]
                assert min(values) == min(p[column] for p in shown)
                assert max(values) == max(p[column] for p in shown)
    # the short backtest's 200 days lie in a few of the ten spans: few points kept
    assert len(cut["backtests"][1]["curve"]) <= 4 * len({span(p[0]) for p in curves[1]}) < 40
    assert cut["months"] == full["months"]
    assert cut["backtests"][0]["summary"] == full["backtests"][0]["summary"]


@pytest.mark.parametrize("points", ["3", "100001", "x"])
def test_points_out_of_range_is_a_400(api: Api, points: str) -> None:
    ids = [api.record(document=backtest_document(seed=s)).json()["backtest_id"] for s in (1, 2)]
    response = api.get("/api/v1/backtests/compare", ids=",".join(ids), points=points)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
