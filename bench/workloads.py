"""The backtests the benchmarks record: a 10-year daily body, and one with many trades."""

from __future__ import annotations

import datetime as dt

import numpy as np

from domain.results import BacktestSubmission, DailyResult, Trade
from tests.factories import backtest_document, body


def ten_year_backtest() -> bytes:
    doc = backtest_document(days=2520, trades=500, start=dt.date(2010, 1, 1))
    doc["periods_per_year"] = 252
    return body(doc)


def big_submission(n_trades: int) -> BacktestSubmission:
    rng = np.random.default_rng(7)
    start = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    pnl = rng.normal(1, 20, n_trades)
    trades = [
        Trade(
            entry_time=start + dt.timedelta(minutes=i),
            exit_time=start + dt.timedelta(minutes=i + 3),
            side="long" if i % 3 else "short",
            entry_price=100.0 + i * 1e-4,
            exit_price=100.5 + i * 1e-4,
            quantity=1.5,
            pnl=float(pnl[i]),
            fees=0.01,
        )
        for i in range(n_trades)
    ]
    days = [DailyResult(date=dt.date(2015, 1, 1) + dt.timedelta(days=i), equity=1e6 + i)
            for i in range(2520)]  # fmt: skip
    return BacktestSubmission(
        symbol="ES", interval="1m", strategy="scalper", test_mode="backtest",
        market_type="futures", initial_capital=1e6, daily_results=days, trades=trades,
        periods_per_year=365,
    )  # fmt: skip
