"""The headline figures as two libraries users compare the ledger with compute them:
backtesting.py (``Backtest.run()``'s stats, version 0.6) and quantstats
(``quantstats.stats``, version 0.0.86). The ledger's own definitions (``metrics``)
stay the primary ones; these sit beside them so that a gap between the ledger and a
library's report reads as a difference of convention, not as a bug.

All figures are fractions, as the ledger's are (backtesting.py prints percent), and
null where undefined or not finite (a library may print 0, inf or NaN there).

backtesting.py works on the equity at each bar, from the first bar's equity (not the
initial capital): its "daily" returns are those of the last equity of each day (of
each week or month for weekly or monthly bars), it annualises them geometrically,
P = 252 or 365 by whether weekends trade (52, 12 or 1 for weekly, monthly or yearly
bars), with a compounded volatility; its CAGR counts calendar years of 365.25 days;
its profit factor sums trade returns, not pnl.

quantstats works on the return series, here the ledger's effective returns (nulls
skipped) with ``periods=periods_per_year``: its Sharpe, Sortino, volatility and CAGR
are then the ledger's; its drawdown starts from the equity before the first return
(a first-day loss is a drawdown), and its win rate and profit factor count periods,
not trades.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import msgspec
import numpy as np

from domain.metrics import finite, power
from domain.results import RecordedSubmission, Trade, given


class BacktestingPyFigures(msgspec.Struct, frozen=True):
    total_return: float | None
    annual_return: float | None
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None
    calmar: float | None
    win_rate: float | None
    profit_factor: float | None


class QuantstatsFigures(msgspec.Struct, frozen=True):
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None
    calmar: float | None
    win_rate: float | None
    profit_factor: float | None
    # greeks() and information_ratio() against the benchmark, on the pairs of returns
    # where both are known; null without a benchmark (quantstats would say 0)
    beta: float | None = None
    alpha: float | None = None
    information_ratio: float | None = None


class Conventions(msgspec.Struct, frozen=True):
    backtesting_py: BacktestingPyFigures
    quantstats: QuantstatsFigures


def conventions(
    submission: RecordedSubmission,
    returns: Sequence[float | None],
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> Conventions:
    """Both libraries' figures for one submission; ``returns`` its effective returns,
    ``pairs`` its returns and its benchmark's where both are known (none: no
    benchmark)."""
    with np.errstate(all="ignore"):
        figures = quantstats([r for r in returns if r is not None], submission.periods)
        if pairs is not None:
            figures = msgspec.structs.replace(
                figures, **quantstats_greeks(*pairs, submission.periods)
            )
        return Conventions(backtesting_py=backtesting_py(submission), quantstats=figures)


def _ratio(numerator: float, denominator: float) -> float | None:
    return finite(numerator / denominator) if denominator else None


# backtesting.py ---------------------------------------------------------------------


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _bar_groups(ordinals: np.ndarray, days_apart: int) -> np.ndarray:
    """The bin of each bar (by its day's proleptic ordinal) in backtesting.py's
    resampling, as a number that grows with the bin: the day ("D"), the week to Sunday
    ("W"), the calendar month ("ME") or the year ("YE")."""
    if days_apart == 7:
        sundays: np.ndarray = ordinals + (6 - (ordinals - 1) % 7)  # ordinal 1: a Monday
        return sundays
    days = (ordinals - _EPOCH_ORDINAL).astype("datetime64[D]")
    if days_apart == 31:
        return days.astype("datetime64[M]").astype(np.int64)
    if days_apart == 365:
        return days.astype("datetime64[Y]").astype(np.int64)
    return ordinals


def _seconds(stamp: dt.date) -> float:
    if isinstance(stamp, dt.datetime):
        return stamp.timestamp()
    return float(dt.datetime(stamp.year, stamp.month, stamp.day, tzinfo=dt.UTC).timestamp())


def _trade_return(trade: Trade) -> float | None:
    """The trade's return as given, or as backtesting.py's ``pl_pct`` makes it: the
    price move in the trade's direction, less the fees as a share of its entry value."""
    if given(trade.return_) is not None:
        return given(trade.return_)
    entry, exit_, size = trade.entry_price, trade.exit_price, trade.quantity
    if entry is None or exit_ is None or not entry or not size:
        return None
    move = exit_ / entry - 1.0
    fees, value = given(trade.fees) or 0.0, size * entry
    if fees and not value:  # the entry's value underflows to 0: no share of it
        return None
    return finite((move if trade.side == "long" else -move) - (fees / value if fees else 0.0))


def backtesting_py(submission: RecordedSubmission) -> BacktestingPyFigures:
    """``compute_stats`` of backtesting.py 0.6 on the equity of the bars that have one."""
    # Arrays, not a Python object per bar: a million bars made this a third of the
    # peak memory of their record.
    rows = submission.daily_results
    known = np.fromiter((day.equity is not None for day in rows), dtype=bool, count=len(rows))
    equity = np.fromiter((day.equity for day in rows if day.equity is not None),
                         dtype=np.float64, count=int(known.sum()))  # fmt: skip
    trades = _trade_figures(submission.trades)
    if len(equity) == 0:
        return BacktestingPyFigures(None, None, None, None, None, None, None, None, *trades)
    where = np.flatnonzero(known)
    ordinals = np.fromiter((rows[i].at.toordinal() for i in where), dtype=np.int64,
                           count=len(where))  # fmt: skip
    first, last = rows[int(where[0])].at, rows[int(where[-1])].at
    seconds = np.array([_seconds(rows[i].at) for i in where[-100:]])
    period = float(np.median(np.diff(seconds))) if len(seconds) > 1 else math.nan
    days_apart = int(period // 86_400) if math.isfinite(period) else 0
    weekends = np.mean((ordinals - 1) % 7 >= 5) > 2 / 7 * 0.6  # Saturday 5, Sunday 6
    periods = {7: 52, 31: 12, 365: 1}.get(days_apart, 365 if weekends else 252)

    groups = _bar_groups(ordinals, days_apart)  # never falls: the bars are in order
    binned = equity[np.r_[groups[1:] != groups[:-1], True]]  # each bin's last bar
    day_returns = binned[1:] / binned[:-1] - 1.0
    day_returns = day_returns[~np.isnan(day_returns)]
    growth = 1.0 + day_returns
    gmean = (0.0 if (growth <= 0).any()
             else math.exp(np.log(growth).sum() / len(growth)) - 1.0 if len(growth)
             else math.nan)  # fmt: skip
    annual = power(1.0 + gmean, periods) - 1.0
    # pandas' var(ddof=int(bool(series.shape))): a Series' shape is never empty, so 1
    variance = float(np.var(day_returns, ddof=1)) if len(day_returns) > 1 else math.nan
    # numpy's sqrt: nan, not a ValueError, where the two overflow or round below 0
    volatility = float(np.sqrt(
        power(variance + power(1.0 + gmean, 2), periods) - power(1.0 + gmean, 2 * periods)
    ))  # fmt: skip
    span = _seconds(last) - _seconds(first)
    years = span / 86_400 / 365.25
    cagr = power(equity[-1] / equity[0], 1.0 / years) - 1.0 if years else math.nan
    downside = math.sqrt(float(np.mean(np.minimum(day_returns, 0.0) ** 2))) if len(
        day_returns) else math.nan  # fmt: skip
    drawdown = 1.0 - equity / np.maximum.accumulate(equity)
    max_dd = -float(np.nan_to_num(np.nanmax(drawdown)))
    return BacktestingPyFigures(
        total_return=_ratio(equity[-1] - equity[0], equity[0]),
        annual_return=finite(annual),
        cagr=finite(cagr),
        volatility=finite(volatility),
        sharpe=_ratio(annual, volatility),
        sortino=_ratio(annual, downside * math.sqrt(periods)),
        max_drawdown=finite(max_dd),
        calmar=_ratio(annual, -max_dd),
        win_rate=trades[0],
        profit_factor=trades[1],
    )


def _trade_figures(trades: Sequence[Trade]) -> tuple[float | None, float | None]:
    """backtesting.py's win rate (pnl > 0, of the trades with a pnl) and profit factor
    (Σ positive trade returns / |Σ negative ones|)."""
    pnls = [t.pnl for t in trades if t.pnl is not None]
    win_rate = sum(1 for p in pnls if p > 0) / len(pnls) if pnls else None
    returns = [r for r in map(_trade_return, trades) if r is not None]
    gains = sum(r for r in returns if r > 0)
    losses = abs(sum(r for r in returns if r < 0))
    return win_rate, _ratio(gains, losses)


# quantstats -------------------------------------------------------------------------


def _annualised(ratio: float | None, periods: int) -> float | None:
    return None if ratio is None else finite(ratio * math.sqrt(periods))


def quantstats_greeks(r: np.ndarray, b: np.ndarray, periods: int) -> dict[str, float | None]:
    """``quantstats.stats.greeks`` (beta: the covariance's ratio, ddof 1; alpha: the
    mean excess over beta times the benchmark's mean, times P, not compounded) and
    ``information_ratio`` (mean(r − b) / std(r − b, ddof=1), not annualised), on the
    pairs ``r``, ``b``; None where quantstats would fill a 0 in for an undefined one."""
    if len(r) < 2:
        return {"beta": None, "alpha": None, "information_ratio": None}
    matrix = np.cov(r, b)
    beta = _ratio(float(matrix[0, 1]), float(matrix[1, 1]))
    alpha = (
        None if beta is None else finite((float(np.mean(r)) - beta * float(np.mean(b))) * periods)
    )
    active = r - b
    ratio = _ratio(float(np.mean(active)), float(np.std(active, ddof=1)))
    return {"beta": beta, "alpha": alpha, "information_ratio": ratio}


def quantstats(returns: Sequence[float], periods: int) -> QuantstatsFigures:
    """``quantstats.stats`` 0.0.86 on ``returns`` with ``periods=periods``."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) == 0:
        return QuantstatsFigures(None, None, None, None, None, None, None, None)
    std = float(np.std(r, ddof=1)) if len(r) > 1 else math.nan
    mean = float(np.mean(r))
    wealth = float(np.prod(1.0 + r))
    cagr = math.nan if wealth < 0 else power(abs(wealth), 1.0 / (len(r) / periods)) - 1.0
    downside = math.sqrt(float(np.sum(r[r < 0] ** 2)) / len(r))
    prices = np.concatenate(([1.0], np.cumprod(1.0 + r)))  # from the equity before
    max_dd = float(np.min(prices / np.maximum.accumulate(prices))) - 1.0
    moved = r[r != 0]
    losses = abs(float(np.sum(r[r < 0])))
    return QuantstatsFigures(
        cagr=finite(cagr),
        volatility=finite(std * math.sqrt(periods)),
        sharpe=_annualised(_ratio(mean, std), periods),
        sortino=_annualised(_ratio(mean, downside), periods),
        max_drawdown=finite(max_dd),
        calmar=_ratio(cagr, abs(max_dd)),
        win_rate=float(np.count_nonzero(r > 0)) / len(moved) if len(moved) else None,
        profit_factor=_ratio(float(np.sum(r[r >= 0])), losses),
    )
