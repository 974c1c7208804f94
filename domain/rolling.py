"""Rolling figures over a window of bars, for the report's charts: the strategy's
Sharpe ratio and its beta to the benchmark.

Each is computed at every bar from the window of bars ending there, from running sums
(so a million bars cost a few passes, whatever the window). A bar whose value is null
counts in no sum; a window with fewer than half its bars known, or with no variation,
gives None (a variance within the sums' rounding of 0 is none). The window is half
a year of bars: 126 daily bars, ``periods_per_year / 2`` for any size.
"""

from __future__ import annotations

import math

import numpy as np

from domain.relative import VARIANCE_FLOOR


def window_of(periods_per_year: int) -> int:
    """Half a year of bars, and at least 2."""
    return max(2, round(periods_per_year / 2))


def _window_sums(values: np.ndarray, window: int) -> np.ndarray:
    """The sum of each window of ``window`` values ending at each index (NaN as 0)."""
    running = np.concatenate([[0.0], np.cumsum(np.nan_to_num(values, nan=0.0))])
    ends = np.arange(1, len(values) + 1)
    sums: np.ndarray = running[ends] - running[np.maximum(ends - window, 0)]
    return sums


def _noise(mean_square: np.ndarray) -> np.ndarray:
    """The variance running sums can show for a constant window: their rounding, a
    few ulps of the mean square (never below the floor of an exact variance)."""
    return np.maximum(mean_square * 1e-9, VARIANCE_FLOOR)


def _as_list(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def rolling_sharpe(returns: np.ndarray, periods: int, window: int) -> list[float | None]:
    """mean / std(ddof=1) · √P of the known returns of each window."""
    known = np.isfinite(returns).astype(float)
    r = np.where(known > 0, returns, 0.0)
    n = _window_sums(known, window)
    s1, s2 = _window_sums(r, window), _window_sums(r * r, window)
    with np.errstate(all="ignore"):
        mean = s1 / n
        variance = (s2 - n * mean * mean) / (n - 1)
        sharpe = mean / np.sqrt(variance) * math.sqrt(periods)
    enough = (n >= max(2, window / 2)) & (variance > _noise(s2 / n))
    return _as_list(np.where(enough, sharpe, np.nan))


def rolling_beta(returns: np.ndarray, benchmark: np.ndarray, window: int) -> list[float | None]:
    """cov(r, b) / var(b) over the pairs of each window where both are known."""
    pairs = (np.isfinite(returns) & np.isfinite(benchmark)).astype(float)
    r = np.where(pairs > 0, returns, 0.0)
    b = np.where(pairs > 0, benchmark, 0.0)
    n = _window_sums(pairs, window)
    sr, sb = _window_sums(r, window), _window_sums(b, window)
    srb, sbb = _window_sums(r * b, window), _window_sums(b * b, window)
    with np.errstate(all="ignore"):
        covariance = srb / n - (sr / n) * (sb / n)
        variance = sbb / n - (sb / n) ** 2
        beta = covariance / variance
    enough = (n >= max(2, window / 2)) & (variance > _noise(sbb / n))
    return _as_list(np.where(enough, beta, np.nan))
