"""Series derived from a backtest's daily rows: effective returns, drawdowns, months.

Derived data lives in read models, never in events, so a corrected formula reaches
history through a rebuild.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from msgspec import UNSET

from domain.results import DailyResult, MonthlyResult, RecordedSubmission, given


def _finite(value: float | None) -> float | None:
    """Derived values are null, like sanitised inputs, when they overflow."""
    return value if value is not None and math.isfinite(value) else None


def effective_returns(initial_capital: float, days: Sequence[DailyResult]) -> list[float | None]:
    """The returns the metrics use: the given ones when the client sent any, otherwise
    equity_t / equity_{t-1} − 1 with equity_{-1} = initial_capital. Unknown → None."""
    if any(day.return_ is not UNSET for day in days):
        return [given(day.return_) for day in days]
    return RunningSeries(initial_capital).returns([day.equity for day in days])


def covered_rows(equities: Sequence[float | None] | np.ndarray) -> int:
    """How many leading rows the metrics cover: through the last row whose equity is
    known. A return after it compounds into no known equity, so it is left out of every
    figure rather than of some (total return and drawdown need the equity, Sharpe and
    volatility only the returns: all of them cover the same rows)."""
    known = ~np.isnan(_array(equities) if not isinstance(equities, np.ndarray) else equities)
    found = np.flatnonzero(known)
    return int(found[-1]) + 1 if len(found) else 0


def drawdowns(equities: Sequence[float | None]) -> list[float | None]:
    """equity_t / max_{s≤t} equity_s − 1 for each day (None where undefined)."""
    return RunningSeries(None).drawdowns(equities)


@dataclass
class RunningSeries:
    """Returns from equity and drawdowns, computed over the days a slice at a time
    (what a stored backtest is read in): each call goes on from where the last one
    ended. ``previous`` is the equity before the first day (the initial capital)."""

    previous: float | None
    peak: float = -math.inf

    def returns(self, equities: Sequence[float | None]) -> list[float | None]:
        """equity_t / equity_{t-1} − 1 for each day (None where unknown)."""
        if not equities:
            return []
        equity = _array(equities)
        before = np.concatenate(([_nan(self.previous)], equity[:-1]))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = equity / before - 1.0
        out[np.isnan(before) | (before == 0)] = np.nan
        self.previous = equities[-1]
        return _listed(out)

    def drawdowns(self, equities: Sequence[float | None]) -> list[float | None]:
        """equity_t / max_{s≤t} equity_s − 1 for each day (None where undefined)."""
        if not equities:
            return []
        return _listed(self.drawdown_array(_array(equities)))

    def drawdown_array(self, equity: np.ndarray) -> np.ndarray:
        """``drawdowns`` of float64 equity (NaN for unknown), as float64 (NaN where
        undefined or past the largest double)."""
        if not len(equity):
            return np.empty(0)
        # fmax passes over NaN (an unknown equity leaves the peak as it was)
        peak = np.fmax.accumulate(np.concatenate(([self.peak], equity)))[1:]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out: np.ndarray = equity / peak - 1.0
        out[~(peak > 0) | ~np.isfinite(out)] = np.nan
        self.peak = float(peak[-1])
        return out


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def _array(values: Sequence[float | None]) -> np.ndarray:
    """float64, NaN for None (a known value is never NaN: non-finite inputs are null)."""
    return np.fromiter((np.nan if v is None else v for v in values), np.float64, len(values))


def _listed(values: np.ndarray) -> list[float | None]:
    """Python floats, None for NaN and for what overflowed (``_finite``)."""
    values[~np.isfinite(values)] = np.nan
    return [None if v != v else v for v in values.tolist()]


def derived_monthly(
    submission: RecordedSubmission, returns: list[float | None] | None = None
) -> list[MonthlyResult]:
    """Calendar months from the daily rows: compounded returns within each month, the
    start equity being the previous month's end (the initial capital at first)."""
    days = submission.daily_results
    if returns is None:
        returns = effective_returns(submission.initial_capital or 0.0, days)
    months: list[MonthlyResult] = []
    start: float | None = submission.initial_capital
    i = 0
    while i < len(days):
        key = (days[i].at.year, days[i].at.month)
        growth, seen, end = 1.0, False, None
        while i < len(days) and (days[i].at.year, days[i].at.month) == key:
            if returns[i] is not None:
                growth *= 1.0 + returns[i]  # type: ignore[operator]
                seen = True
            if days[i].equity is not None:
                end = days[i].equity
            i += 1
        months.append(
            MonthlyResult(
                month=f"{key[0]:04d}-{key[1]:02d}",
                return_=_finite(growth - 1.0) if seen else None,
                start_equity=start,
                end_equity=end,
            )
        )
        start = end if end is not None else start
    return months


def monthly_results(
    submission: RecordedSubmission, returns: list[float | None] | None = None
) -> list[MonthlyResult]:
    """The months the client gave, or the ones derived from the daily rows."""
    if submission.monthly_results is UNSET:
        return derived_monthly(submission, returns)
    return list(submission.monthly_results)


@dataclass(frozen=True)
class Derived:
    """Every series derived from one submission, computed once."""

    returns: list[float | None]
    drawdowns: list[float | None]
    months: list[MonthlyResult]
    covered: int  # the leading rows the metrics cover (``covered_rows``)

    def metric_returns(self) -> list[float]:
        """The known returns of the rows the metrics cover, in order."""
        return [r for r in self.returns[: self.covered] if r is not None]


def derive(submission: RecordedSubmission) -> Derived:
    days = submission.daily_results
    returns = effective_returns(submission.initial_capital or 0.0, days)
    equities = [day.equity for day in days]
    return Derived(
        returns=returns,
        drawdowns=drawdowns(equities),
        months=monthly_results(submission, returns),
        covered=covered_rows(equities),
    )
