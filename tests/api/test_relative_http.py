"""Figures against a benchmark over HTTP, on both stores: recorded with the days'
``benchmark_return``, equal to empyrical-reloaded on the returns the ledger uses,
searchable, sortable and exported like every metric; null, never a 500 or an inf,
without a benchmark or with a constant one."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import empyrical
import numpy as np
import pandas as pd
import pytest

from tests.api.conftest import Api
from tests.factories import backtest_document

DAYS = 300


def with_benchmark(beta: float, seed: int, experiment: str = "vs-index") -> dict[str, Any]:
    """A strategy that holds ``beta`` of an index plus noise, the index as its benchmark."""
    rng = np.random.default_rng(seed)
    index = rng.normal(0.0004, 0.01, DAYS)
    returns = beta * index + rng.normal(0.0002, 0.004, DAYS)
    doc = backtest_document(days=DAYS, seed=seed, trades=0)
    equity = 10_000.0 * np.cumprod(1 + returns)
    for row, e, b in zip(doc["daily_results"], equity, index, strict=True):
        row["equity"], row["benchmark_return"] = float(e), float(b)
    doc["experiment"] = experiment
    doc["parameters"] = {"beta": beta}
    return doc


def ledger_returns(doc: dict[str, Any]) -> pd.Series:
    """The returns the ledger uses: each equity over the one before (the capital first)."""
    equity = np.array([row["equity"] for row in doc["daily_results"]], dtype=float)
    return pd.Series(equity / np.r_[10_000.0, equity[:-1]] - 1)


def test_the_figures_equal_empyrical_and_search_and_sort_by_them(api: Api) -> None:
    docs = {beta: with_benchmark(beta, seed) for seed, beta in enumerate((0.5, 1.0, 1.5))}
    ids = {beta: api.record(document=doc).json()["backtest_id"] for beta, doc in docs.items()}
    for beta, doc in docs.items():
        detail = api.get(f"/api/v1/backtests/{ids[beta]}").json()
        r = ledger_returns(doc)
        b = pd.Series([row["benchmark_return"] for row in doc["daily_results"]])
        periods = detail["periods_per_year"]
        alpha, fitted = empyrical.alpha_beta(r, b, annualization=periods)
        metrics, relative = detail["metrics"], detail["relative"]
        assert metrics["beta"] == pytest.approx(fitted, rel=1e-9)
        assert metrics["alpha"] == pytest.approx(alpha, rel=1e-9)
        ir = empyrical.excess_sharpe(r, b) * math.sqrt(periods)
        assert metrics["information_ratio"] == pytest.approx(ir, rel=1e-9)
        assert metrics["tracking_error"] == pytest.approx((r - b).std() * math.sqrt(periods))
        assert relative["correlation"] == pytest.approx(r.corr(b), rel=1e-9)
        assert relative["pairs"] == DAYS and relative["beta"] == metrics["beta"]
        assert abs(fitted - beta) < 0.15  # the beta the strategy was built with
    # where and sort over HTTP, as over every metric
    found = api.get("/api/v1/backtests", experiment="vs-index", sort="-beta",
                    where="beta < 1.2 and information_ratio > -100").json()["items"]  # fmt: skip
    assert [item["backtest_id"] for item in found] == [ids[1.0], ids[0.5]]
    low = api.get("/api/v1/backtests", where="beta < 0.8 and information_ratio > 0")
    low = low.json()["items"]
    assert [item["backtest_id"] for item in low] == [ids[0.5]]
    # the sweep's table has them as columns
    sweep = pd.read_csv(io.BytesIO(api.get("/api/v1/experiments/vs-index/backtests.csv").content))
    by_id = sweep.set_index("backtest_id")
    for backtest_id in ids.values():
        listed = api.get(f"/api/v1/backtests/{backtest_id}").json()["metrics"]
        assert by_id.loc[backtest_id, "beta"] == pytest.approx(listed["beta"], rel=1e-15)
        assert by_id.loc[backtest_id, "tracking_error"] == pytest.approx(
            listed["tracking_error"], rel=1e-15
        )


def test_a_benchmark_on_some_rows_or_constant_or_absent_gives_nulls_never_a_500(api: Api) -> None:
    partial = with_benchmark(1.0, 7, "odd")
    for row in partial["daily_results"][::2]:
        del row["benchmark_return"]
    recorded = api.record(document=partial)
    assert recorded.status_code == 201, recorded.text
    detail = api.get(f"/api/v1/backtests/{recorded.json()['backtest_id']}").json()
    assert detail["relative"]["pairs"] == DAYS // 2 and detail["metrics"]["beta"] is not None
    flat = with_benchmark(1.0, 8, "odd")
    for row in flat["daily_results"]:
        row["benchmark_return"] = 0.001
    recorded = api.record(document=flat)
    assert recorded.status_code == 201, recorded.text
    detail = api.get(f"/api/v1/backtests/{recorded.json()['backtest_id']}").json()
    assert detail["metrics"]["beta"] is None and detail["relative"]["correlation"] is None
    assert detail["metrics"]["tracking_error"] is not None  # r − b still varies
    bare = api.record(document=backtest_document(days=40)).json()["backtest_id"]
    detail = api.get(f"/api/v1/backtests/{bare}").json()
    assert detail["relative"]["pairs"] == 0
    assert all(detail["metrics"][n] is None for n in ("beta", "alpha", "tracking_error"))
    # non-finite benchmark values are sanitised like every other number: null, no pair
    odd = with_benchmark(1.0, 9, "odd")
    odd["daily_results"][3]["benchmark_return"] = float("nan")
    odd["daily_results"][5]["benchmark_return"] = float("inf")
    sent = api.client.post(
        "/api/v1/backtests",
        content=json.dumps(odd).encode(),  # Python writes NaN and Infinity tokens
        headers={**api.auth("alice"), "Content-Type": "application/json"},
    )
    assert sent.status_code == 201, sent.text
    detail = api.get(f"/api/v1/backtests/{sent.json()['backtest_id']}").json()
    assert detail["sanitized_fields"] == [
        "/daily_results/3/benchmark_return", "/daily_results/5/benchmark_return"
    ]  # fmt: skip
    assert detail["relative"]["pairs"] == DAYS - 2 and detail["metrics"]["beta"] is not None


def test_the_compare_pages_benchmark_is_the_first_backtest_s_held(api: Api) -> None:
    from domain.errors import BacktestNotFound
    from projections.compare import benchmark_curve

    doc = with_benchmark(1.0, 11, "held")
    backtest_id = api.record(document=doc).json()["backtest_id"]
    held = benchmark_curve(api.engine, backtest_id, None, 40)
    assert held is not None and 20 <= len(held) <= 40  # each span's extremes, 10 spans
    rows = doc["daily_results"]
    growth = np.cumprod([1 + row["benchmark_return"] for row in rows])
    by_day = dict(zip([row["date"] for row in rows], growth, strict=True))
    for day, value in held:  # every kept point is the index held to that day
        assert value == pytest.approx(by_day[day.isoformat()], rel=1e-12)
    assert max(v for _, v in held) == pytest.approx(growth.max(), rel=1e-12)
    assert min(v for _, v in held) == pytest.approx(growth.min(), rel=1e-12)
    bare = api.record(document=backtest_document(days=40)).json()["backtest_id"]
    assert benchmark_curve(api.engine, bare, None, 40) is None
    with pytest.raises(BacktestNotFound):  # another user's, as a missing one
        benchmark_curve(api.engine, backtest_id, "somebody-else", 40)
