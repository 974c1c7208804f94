"""A simple reference strategy for the demo: a long-only moving-average crossover.

Long while yesterday's fast average closed above the slow one (no look-ahead), flat
otherwise; each change of position pays ``cost_bps`` of equity. Produces a complete
submission: daily equity, returns, positions and the buy-and-hold benchmark, and one
trade per long holding period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from domain.results import BacktestSubmission, DailyResult, Trade


def sma_crossover(
    dates: Sequence[dt.date],
    prices: Sequence[float],
    *,
    fast: int,
    slow: int,
    symbol: str,
    capital: float = 100_000.0,
    cost_bps: float = 5.0,
) -> BacktestSubmission:
    if not 0 < fast < slow < len(prices):
        raise ValueError("need 0 < fast < slow < number of prices")
    close = pd.Series(np.asarray(prices, dtype=np.float64))
    market = close.pct_change().to_numpy()
    signal = (close.rolling(fast).mean() > close.rolling(slow).mean()).astype(float).to_numpy()
    position = np.concatenate([[0.0], signal[:-1]])  # act on yesterday's close
    start = slow  # the first day both averages exist
    cost = cost_bps / 10_000
    equity, days, trades = capital, [], []
    entry: tuple[int, float] | None = None
    for t in range(start, len(close)):
        change = abs(float(position[t] - position[t - 1]))
        daily = float(position[t] * market[t]) - cost * change
        equity *= 1 + daily
        days.append(
            DailyResult(
                date=dates[t], equity=equity, return_=float(daily), position=float(position[t]),
                cash=equity * (1 - float(position[t])), benchmark_return=float(market[t]),
            )
        )  # fmt: skip
        if position[t] == 1 and position[t - 1] == 0:
            entry = (t, equity / (1 + daily) * (1 - cost))
        if entry is not None and (position[t] == 0 or t == len(close) - 1):
            trades.append(_trade(dates, close, entry, t, equity, cost))
            entry = None
    return BacktestSubmission(
        symbol=symbol, interval="1d", strategy="sma_cross", test_mode="backtest",
        market_type="spot", initial_capital=capital, daily_results=days, trades=trades,
        parameters={"fast": fast, "slow": slow, "cost_bps": cost_bps, "long_only": True},
        periods_per_year=252,
    )  # fmt: skip


def _trade(
    dates: Sequence[dt.date],
    close: pd.Series,
    entry: tuple[int, float],
    exit_day: int,
    equity: float,
    cost: float,
) -> Trade:
    day, entry_equity = entry
    # entered at the close before the first long day, left at the close of exit_day - 1
    # (or the last close when still long)
    last = exit_day if exit_day == len(close) - 1 else exit_day - 1
    entry_price, exit_price = float(close[day - 1]), float(close[last])
    quantity = entry_equity / entry_price
    at = dt.time(21, 0, tzinfo=dt.UTC)  # 16:00 New York, the close
    return Trade(
        entry_time=dt.datetime.combine(dates[day - 1], at),
        exit_time=dt.datetime.combine(dates[last], at),
        side="long",
        entry_price=entry_price,
        exit_price=exit_price,
        quantity=quantity,
        pnl=equity - entry_equity,
        return_=equity / entry_equity - 1,
        fees=entry_equity * cost * 2,
    )
