"""The summary metrics of a backtest, with the conventions of empyrical and quantstats.

r are the effective daily returns with nulls skipped, of the rows through the last
known equity (``domain.series.covered_rows``), P the periods per year. Every
figure that is undefined (no data, zero denominator, non-finite) is None, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import msgspec
import numpy as np

# (domain.relative imports this module too: each looks the other's names up when called)
from domain import relative as benchmark_relative
from domain.results import RecordedSubmission, Trade
from domain.series import Derived, derive


class Metrics(msgspec.Struct, frozen=True):
    total_return: float | None
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None
    calmar: float | None
    num_trades: int
    win_rate: float | None
    profit_factor: float | None
    # against the benchmark_return of the rows (domain.relative); null without one
    beta: float | None = None
    alpha: float | None = None
    information_ratio: float | None = None
    tracking_error: float | None = None


METRIC_NAMES: tuple[str, ...] = Metrics.__struct_fields__


def power(base: float, exponent: float) -> float:
    """``base ** exponent`` by Python's float power (the bits every earlier version
    stored), with IEEE's answer where Python raises instead: inf when it overflows
    (annualising 3 one-minute bars of +2 % at a million periods a year does), and
    nan where the power is not real (Python would give a complex)."""
    try:
        result = float(base) ** float(exponent)
    except (OverflowError, ZeroDivisionError):
        with np.errstate(all="ignore"):
            return float(np.power(np.float64(base), np.float64(exponent)))
    return result if isinstance(result, float) else math.nan


def finite(value: float | None) -> float | None:
    """A float, or None when it is missing or not finite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def compute_metrics(
    submission: RecordedSubmission,
    derived: Derived | None = None,
    relative: benchmark_relative.RelativeMetrics | None = None,
) -> Metrics:
    """Every metric (docs/explanation/metrics.md) of one submitted backtest. Extreme inputs can
    overflow; whatever is not finite comes out as None, so numpy's warnings are moot."""
    derived = derived or derive(submission)
    relative = relative or benchmark_relative.relative_of(submission, derived)
    with np.errstate(all="ignore"):
        return _metrics(submission, derived, relative)


def _metrics(
    submission: RecordedSubmission, derived: Derived, relative: benchmark_relative.RelativeMetrics
) -> Metrics:
    capital = submission.initial_capital or 0.0
    days = submission.daily_results
    returns = np.array(derived.metric_returns(), dtype=np.float64)
    equities = [day.equity for day in days if day.equity is not None]
    periods = submission.periods
    total = equities[-1] / capital - 1.0 if equities and capital > 0 else None
    cagr_value = cagr(total, len(returns), periods)
    max_dd = min((d for d in derived.drawdowns if d is not None), default=None)
    calmar = None if cagr_value is None or not max_dd else cagr_value / abs(max_dd)
    trades = trade_metrics(submission.trades)
    return Metrics(
        total_return=finite(total),
        cagr=finite(cagr_value),
        volatility=finite(volatility(returns, periods)),
        sharpe=finite(sharpe(returns, periods)),
        sortino=finite(sortino(returns, periods)),
        max_drawdown=finite(max_dd),
        calmar=finite(calmar),
        num_trades=trades.num_trades,
        win_rate=trades.win_rate,
        profit_factor=trades.profit_factor,
        beta=relative.beta,
        alpha=relative.alpha,
        information_ratio=relative.information_ratio,
        tracking_error=relative.tracking_error,
    )


def cagr(total_return: float | None, n: int, periods_per_year: int) -> float | None:
    """(1 + total_return)^(P / n) − 1, with n the number of returns."""
    if total_return is None or n == 0 or 1.0 + total_return < 0:
        return None
    return finite(power(1.0 + total_return, periods_per_year / n) - 1.0)


def volatility(returns: np.ndarray, periods_per_year: int) -> float | None:
    """std(r, ddof=1) · √P."""
    if len(returns) < 2:
        return None
    return float(np.std(returns, ddof=1) * math.sqrt(periods_per_year))


def sharpe(returns: np.ndarray, periods_per_year: int) -> float | None:
    """mean(r) / std(r, ddof=1) · √P, risk-free 0; None when std is 0."""
    if len(returns) < 2:
        return None
    std = float(np.std(returns, ddof=1))
    if std == 0:
        return None
    return float(np.mean(returns)) / std * math.sqrt(periods_per_year)


def sortino(returns: np.ndarray, periods_per_year: int) -> float | None:
    """mean(r)·P / (√mean(min(r,0)²) · √P); None when no return is negative."""
    if len(returns) == 0 or not (returns < 0).any():
        return None
    downside = math.sqrt(float(np.mean(np.square(np.minimum(returns, 0.0)))))
    if downside == 0:  # negative returns so small that their squares underflow to 0
        return None
    return float(np.mean(returns)) * periods_per_year / (downside * math.sqrt(periods_per_year))


class TradeMetrics(NamedTuple):
    num_trades: int
    win_rate: float | None
    profit_factor: float | None


def trade_metrics(trades: Sequence[Trade]) -> TradeMetrics:
    """num_trades, win_rate (pnl > 0) and profit_factor (Σ gains / |Σ losses|). A trade
    whose pnl is null counts in num_trades only: neither a win nor a loss."""
    pnls = [t.pnl for t in trades if t.pnl is not None]
    gains = sum(p for p in pnls if p > 0)
    losses = sum(p for p in pnls if p < 0)
    wins = sum(1 for p in pnls if p > 0)
    return TradeMetrics(
        num_trades=len(trades),
        win_rate=wins / len(pnls) if pnls else None,
        profit_factor=finite(gains / abs(losses)) if losses < 0 else None,
    )
