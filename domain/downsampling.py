"""Which points of a long series to keep when only ``buckets`` spans can be shown:
in each span its lowest and highest point, so peaks and troughs (a drawdown's extreme
above all) stay exact however much is left out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def as_floats(series: Sequence[float | None]) -> np.ndarray:
    """A series with None as NaN, as the functions below take it."""
    return np.array([np.nan if v is None else v for v in series], dtype=np.float64)


def extreme_indices(
    values: np.ndarray, buckets: int, positions: np.ndarray | None = None, length: int = 0
) -> np.ndarray:
    """The ascending indices of the finite points to keep: every one while they fit two
    to a bucket; past that, ``[0, length)`` cut into ``buckets`` equal spans, each point
    in the span of its position (by default its index, in a length of the series), and
    in each span its lowest and highest point (the first of equals)."""
    where = np.flatnonzero(np.isfinite(values))
    if len(where) <= 2 * buckets:
        return where
    finite = values[where]
    if positions is None:
        positions, length = np.arange(len(values)), len(values)
    bucket = positions[where] * buckets // max(length, 1)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    segment = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(finite)]))
    order = np.arange(len(finite))
    absent = len(finite)
    lowest = np.minimum.reduceat(finite, starts)[segment] == finite
    highest = np.maximum.reduceat(finite, starts)[segment] == finite
    first_low = np.minimum.reduceat(np.where(lowest, order, absent), starts)
    first_high = np.minimum.reduceat(np.where(highest, order, absent), starts)
    kept: np.ndarray = where[np.unique(np.r_[first_low, first_high])]
    return kept
