"""Hansen, Lunde and Nason's Model Confidence Set by the R method: the variants of a
sweep that cannot be told apart from the best, as ``arch.bootstrap.MCS(...,
method="R")`` finds them, in memory that grows with N² rather than reps × N².

arch holds every replication's N × N differences at once (32 GB for 2,000 variants and
1,000 replications). The same figures come from one row of pairs at a time:

- the pairwise variances, row by row (the matrix is symmetric to the bit, so half of it);
- the order of elimination, from the standardised observed differences alone;
- each step's simulated statistic, the largest |z| over the pairs still in the set, as a
  running maximum over the eliminated variants taken from the last one back.

Each reduction is arch's, in arch's order, so the set and its p-values are arch's bit
for bit. Two differences are deliberate: identical variants (arch divides 0 by 0 on
them and fails) are one model here, in or out together; and the set has a ceiling,
``MAX_VARIANTS``, above which its cost (reps × N² operations) is not spent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MAX_VARIANTS = 5_000


@dataclass(frozen=True)
class ConfidenceSet:
    """The columns in the set, and each column's MCS p-value (arch's, running maximum
    over the order of elimination)."""

    included: list[int]
    pvalues: list[float]


def model_confidence_set(
    losses_mean: np.ndarray, losses_star: np.ndarray, size: float,
    duplicates: np.ndarray | None = None, tick: Callable[[float], None] | None = None,
) -> ConfidenceSet:  # fmt: skip
    """The MCS from each column's mean loss and each replication's mean losses
    (reps × N, on arch's bootstrap indices). ``duplicates[i]`` is the first column
    identical to column i (i itself when none is). ``tick`` hears the share done, now
    and then (it may raise to stop the work)."""
    k = len(losses_mean)
    first = np.arange(k) if duplicates is None else np.asarray(duplicates)
    unique = np.flatnonzero(first == np.arange(k))
    mean = losses_mean[unique]
    star = np.ascontiguousarray(losses_star[:, unique])
    pvalues = _pvalues(mean, star, tick or _quiet) if len(unique) > 1 else np.ones(1)
    of_unique = dict(zip(unique.tolist(), pvalues.tolist(), strict=True))
    every = [of_unique[int(first[i])] for i in range(k)]
    return ConfidenceSet([i for i, p in enumerate(every) if p > size], every)


def _quiet(share: float) -> None:
    pass


TICK_ROWS = 64  # rows of pairs between two reports of progress


def _pvalues(mean: np.ndarray, star: np.ndarray, tick: Callable[[float], None]) -> np.ndarray:
    k = len(mean)
    loss_diffs = mean[:, None] - mean[None, :]
    variances = np.empty((k, k))
    for i in range(k):  # arch: ((star_i − star_j) − diff_ij)², averaged over replications
        row = ((star[:, i : i + 1] - star[:, i:]) - loss_diffs[i, i:]) ** 2
        variances[i, i:] = row.mean(0)
        variances[i:, i] = variances[i, i:]
        if i % TICK_ROWS == 0:
            tick(0.5 * i / k)
    variances[np.diag_indices(k)] += 1.0  # arch adds the identity, against 0/0
    scale = np.sqrt(variances)
    order, statistics = _elimination(loss_diffs / scale)
    # the simulated statistic of the set left before step s: max |z| over its pairs
    simulated = np.zeros(len(star))
    pvalues = np.empty(k)
    for s in range(k - 1, -1, -1):
        i, later = order[s], order[s:]
        z = ((star[:, i : i + 1] - star[:, later]) - loss_diffs[i, later]) / scale[i, later]
        simulated = np.maximum(simulated, np.abs(z).max(axis=1))
        if s < k - 1:
            pvalues[i] = (statistics[s] < simulated).mean()
        if s % TICK_ROWS == 0:
            tick(1.0 - 0.5 * s / k)
    pvalues[order[-1]] = 1.0
    running = np.maximum.accumulate(pvalues[order])
    pvalues[order] = running
    return pvalues


def _elimination(standardised: np.ndarray) -> tuple[list[int], list[float]]:
    """arch's order of elimination: at each step the set's largest standardised
    difference, and the row that holds it first (the worse variant) leaves."""
    k = len(standardised)
    inside = np.ones(k, dtype=bool)
    best = standardised.max(axis=1)
    where = standardised.argmax(axis=1)
    order: list[int] = []
    statistics: list[float] = []
    for _ in range(k - 1):
        rows = np.flatnonzero(inside)
        top = best[rows].max()
        leaving = int(rows[np.flatnonzero(best[rows] == top)[0]])
        order.append(leaving)
        statistics.append(float(top))
        inside[leaving] = False
        stale = np.flatnonzero(inside & (where == leaving))
        if len(stale):
            columns = np.flatnonzero(inside)
            block = standardised[np.ix_(stale, columns)]
            best[stale] = block.max(axis=1)
            where[stale] = columns[block.argmax(axis=1)]
    order.append(int(np.flatnonzero(inside)[0]))
    return order, statistics


def identical_columns(returns: np.ndarray) -> np.ndarray:
    """For each column, the first column with the same values in every row (itself
    when none comes before it)."""
    seen: dict[bytes, int] = {}
    first = np.arange(returns.shape[1])
    for i in range(returns.shape[1]):
        key = (returns[:, i] + 0.0).tobytes()  # + 0.0: −0.0 and 0.0 are the same loss
        first[i] = seen.setdefault(key, i)
    return first
