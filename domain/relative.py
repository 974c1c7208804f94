"""A strategy's figures relative to its benchmark, and the benchmark's own.

The inputs are the strategy's effective returns r and the benchmark's returns b, row
by row (NaN for null). Only the pairs where both are known count, so a benchmark given
on some rows only is usable. P is ``periods_per_year`` and the risk-free rate is 0.
The formulas are empyrical-reloaded's, annualised with P:

- beta = cov(r, b) / var(b); alpha = (1 + mean(r − beta·b))^P − 1 (``alpha_beta``);
- information ratio = mean(r − b) / std(r − b, ddof=1) · √P (``excess_sharpe``,
  annualised); tracking error = std(r − b, ddof=1) · √P;
- correlation: Pearson's, of r and b;
- up (down) capture: the annual return of r over the pairs where b > 0 (b < 0) over
  b's over the same pairs (``up_capture``, ``down_capture``; the same for P = 252);
- the benchmark's total return, CAGR, Sharpe and maximum drawdown: the ledger's own
  definitions (``domain.metrics``) applied to b over the pairs, its wealth starting
  at 1.

With fewer than 2 pairs every figure is None; so is any that is undefined (a constant
benchmark has no beta and no correlation), never inf or 0.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec
import numpy as np

# domain.metrics imports this module for its four list metrics: its functions are
# looked up when called, after both modules are loaded
from domain import metrics

if TYPE_CHECKING:
    from collections.abc import Sequence

    from domain.results import DailyResult, RecordedSubmission
    from domain.series import Derived

# Variances below this are a constant series seen through rounding: empyrical's floor.
VARIANCE_FLOOR = 1.0e-30


class RelativeMetrics(msgspec.Struct, frozen=True):
    beta: float | None = None
    alpha: float | None = None
    information_ratio: float | None = None
    tracking_error: float | None = None
    correlation: float | None = None
    up_capture: float | None = None
    down_capture: float | None = None
    benchmark_total_return: float | None = None
    benchmark_cagr: float | None = None
    benchmark_sharpe: float | None = None
    benchmark_max_drawdown: float | None = None
    pairs: int = 0


NO_BENCHMARK = RelativeMetrics()


def _annual_return(returns: np.ndarray, periods: int) -> float | None:
    """empyrical's ``annual_return``: the compounded growth, per year of P returns."""
    if len(returns) == 0:
        return None
    growth = float(np.prod(1.0 + returns))
    return metrics.finite(metrics.power(growth, periods / len(returns)) - 1.0)


def _capture(r: np.ndarray, b: np.ndarray, periods: int) -> float | None:
    strategy, benchmark = _annual_return(r, periods), _annual_return(b, periods)
    if strategy is None or not benchmark:
        return None
    return metrics.finite(strategy / benchmark)


def _beta(r: np.ndarray, b: np.ndarray) -> float | None:
    residual = b - np.mean(b)
    variance = float(np.mean(residual * residual))
    if variance < VARIANCE_FLOOR:
        return None
    return metrics.finite(float(np.mean(residual * r)) / variance)


def _correlation(r: np.ndarray, b: np.ndarray) -> float | None:
    dr, db = r - np.mean(r), b - np.mean(b)
    var_r, var_b = float(np.mean(dr * dr)), float(np.mean(db * db))
    if var_r < VARIANCE_FLOOR or var_b < VARIANCE_FLOOR:  # a constant series
        return None
    return metrics.finite(float(np.mean(dr * db)) / math.sqrt(var_r * var_b))


def _max_drawdown(b: np.ndarray) -> float | None:
    wealth = np.cumprod(1.0 + b)
    peaks = np.maximum.accumulate(wealth)
    with np.errstate(all="ignore"):
        drawdowns = wealth / peaks - 1.0
    return metrics.finite(float(np.min(drawdowns)))


def relative_metrics(returns: np.ndarray, benchmark: np.ndarray, periods: int) -> RelativeMetrics:
    """Every relative figure of ``returns`` against ``benchmark`` (aligned rows, NaN
    for null), annualised with ``periods`` a year."""
    known = np.isfinite(returns) & np.isfinite(benchmark)
    r, b = returns[known], benchmark[known]
    if len(r) < 2:
        return RelativeMetrics(pairs=len(r))
    finite = metrics.finite
    with np.errstate(all="ignore"):
        beta = _beta(r, b)
        alpha = None
        if beta is not None:
            alpha = finite(metrics.power(1.0 + float(np.mean(r - beta * b)), periods) - 1.0)
        active = r - b
        spread = float(np.std(active, ddof=1))
        up, down = b > 0, b < 0
        total = finite(float(np.prod(1.0 + b)) - 1.0)
        return RelativeMetrics(
            beta=beta,
            alpha=alpha,
            information_ratio=None
            if spread == 0
            else finite(float(np.mean(active)) / spread * math.sqrt(periods)),
            tracking_error=finite(spread * math.sqrt(periods)),
            correlation=_correlation(r, b),
            up_capture=_capture(r[up], b[up], periods),
            down_capture=_capture(r[down], b[down], periods),
            benchmark_total_return=total,
            benchmark_cagr=metrics.cagr(total, len(b), periods),
            benchmark_sharpe=finite(metrics.sharpe(b, periods)),
            benchmark_max_drawdown=_max_drawdown(b),
            pairs=len(r),
        )


def benchmark_returns(days: Sequence[DailyResult]) -> np.ndarray | None:
    """The rows' ``benchmark_return`` (NaN for null); None when no row has one."""
    given = [day.benchmark_return for day in days]
    if all(value is None or value is msgspec.UNSET for value in given):
        return None
    return np.array(
        [np.nan if v is None or v is msgspec.UNSET else v for v in given], dtype=np.float64
    )


def held(benchmark: np.ndarray) -> np.ndarray:
    """The benchmark held from the first row, its wealth starting at 1: each row's
    growth so far (a row without a return holds the value)."""
    wealth: np.ndarray = np.cumprod(1.0 + np.nan_to_num(benchmark, nan=0.0))
    return wealth


def aligned(
    submission: RecordedSubmission, derived: Derived
) -> tuple[np.ndarray, np.ndarray] | None:
    """A recorded backtest's effective returns and its rows' ``benchmark_return``, row
    by row (NaN for null) over the rows its metrics cover; None without a benchmark."""
    covered = derived.covered
    benchmark = benchmark_returns(submission.daily_results[:covered])
    if benchmark is None:
        return None
    returns = np.array(
        [np.nan if r is None else r for r in derived.returns[:covered]], dtype=np.float64
    )
    return returns, benchmark


def paired(rows: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The pairs of ``aligned`` rows where both returns are known."""
    if rows is None:
        return None
    returns, benchmark = rows
    known = np.isfinite(returns) & np.isfinite(benchmark)
    return returns[known], benchmark[known]


def relative_of(submission: RecordedSubmission, derived: Derived) -> RelativeMetrics:
    """The relative figures of a recorded backtest (``aligned``)."""
    rows = aligned(submission, derived)
    return NO_BENCHMARK if rows is None else relative_metrics(*rows, submission.periods)
