"""Metrics and derived series against values worked out by hand.

The series: initial capital 100, equities 110, 99, 108.9, so the returns are
+10 %, −10 %, +10 % exactly; mean 1/30, std(ddof=1) = 0.2/√3, P = 252.
"""

from __future__ import annotations

import math

import pytest

from domain.metrics import compute_metrics
from domain.series import derived_monthly, drawdowns, effective_returns
from domain.submission import submission_from_document

DOC = {
    "symbol": "SPY",
    "interval": "1d",
    "strategy": "hand",
    "test_mode": "backtest",
    "market_type": "spot",
    "initial_capital": 100.0,
    "periods_per_year": 252,
    "daily_results": [
        {"date": "2024-01-30", "equity": 110.0},
        {"date": "2024-01-31", "equity": 99.0},
        {"date": "2024-02-01", "equity": 108.9},
    ],
    "trades": [
        {"entry_time": "2024-01-30T00:00:00Z", "exit_time": "2024-01-30T01:00:00Z",
         "side": "long", "entry_price": 1, "exit_price": 2, "quantity": 1, "pnl": pnl}
        for pnl in (10.0, -5.0, 3.0, None)
    ],
}  # fmt: skip
SUB, _ = submission_from_document(DOC)
METRICS = compute_metrics(SUB)
close = pytest.approx


def test_returns_are_derived_from_equity_starting_at_the_initial_capital() -> None:
    assert effective_returns(100.0, SUB.daily_results) == close([0.1, -0.1, 0.1], rel=1e-12)


def test_total_return_and_cagr() -> None:
    assert METRICS.total_return == close(0.089, rel=1e-12)
    assert METRICS.cagr == close(1.089 ** (252 / 3) - 1, rel=1e-12)


def test_volatility_sharpe_and_sortino() -> None:
    assert METRICS.volatility == close(math.sqrt(0.04 / 3 * 252), rel=1e-12)
    assert METRICS.sharpe == close(math.sqrt(756) / 6, rel=1e-12)
    # mean·P / (√mean(min(r,0)²)·√P) = (1/30)·√252 / √(0.01/3)
    assert METRICS.sortino == close(math.sqrt(75600) / 30, rel=1e-12)


def test_drawdown_and_calmar() -> None:
    assert drawdowns([110.0, 99.0, 108.9]) == close([0.0, -0.1, -0.01], rel=1e-12)
    assert METRICS.max_drawdown == close(-0.1, rel=1e-12)
    assert METRICS.calmar == close((1.089**84 - 1) / 0.1, rel=1e-12)


def test_a_trade_with_a_null_pnl_counts_in_num_trades_only() -> None:
    # one rule: a null pnl is neither a win nor a loss (2 wins of the 3 known pnls)
    assert METRICS.num_trades == 4
    assert METRICS.win_rate == 2 / 3
    assert METRICS.profit_factor == close(13 / 5, rel=1e-12)


def test_undefined_metrics_are_null_never_zero() -> None:
    days = [{"date": "2024-01-01", "equity": 100.0}, {"date": "2024-01-02", "equity": 100.0}]
    flat = dict(DOC, daily_results=days, trades=[])
    metrics = compute_metrics(submission_from_document(flat)[0])
    assert metrics.total_return == 0.0
    assert metrics.sharpe is None  # std is 0
    assert metrics.sortino is None  # no negative return
    assert metrics.calmar is None  # no drawdown
    assert metrics.win_rate is None and metrics.profit_factor is None
    assert metrics.num_trades == 0


def test_given_returns_are_used_and_null_returns_skipped() -> None:
    doc = dict(DOC, daily_results=[
        {"date": "2024-01-01", "equity": 101.0, "return": 0.01},
        {"date": "2024-01-02", "equity": 101.0, "return": None},
        {"date": "2024-01-03", "equity": 99.0, "return": -0.02},
    ])  # fmt: skip
    metrics = compute_metrics(submission_from_document(doc)[0])
    mean, std = -0.005, math.sqrt(((0.015**2) * 2) / 1)
    assert metrics.sharpe == close(mean / std * math.sqrt(252), rel=1e-12)
    assert metrics.cagr == close(0.99 ** (252 / 2) - 1, rel=1e-12)


def test_months_are_compounded_from_daily_returns() -> None:
    months = derived_monthly(SUB)
    assert [m.month for m in months] == ["2024-01", "2024-02"]
    assert months[0].return_ == close(1.1 * 0.9 - 1, rel=1e-12)
    assert (months[0].start_equity, months[0].end_equity) == (100.0, 99.0)
    assert months[1].return_ == close(0.1, rel=1e-12)
    assert (months[1].start_equity, months[1].end_equity) == (99.0, 108.9)


def test_a_downside_too_small_to_square_gives_no_sortino_not_a_crash() -> None:
    # (-3e-221)² underflows to 0.0 in floats: the downside deviation is 0, the ratio
    # undefined (found by the schema fuzzer as a 500 on POST /backtests)
    import numpy as np

    from domain.metrics import sortino

    assert (-3e-221) ** 2 == 0.0
    assert sortino(np.array([-3e-221, 0.01, 0.02]), 252) is None
    assert sortino(np.array([-0.01, 0.02]), 252) is not None
