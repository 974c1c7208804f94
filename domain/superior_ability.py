"""Whether the best variant of a sweep beats a benchmark beyond luck: Hansen's test of
Superior Predictive Ability (whose upper p-value is White's Reality Check) and Romano and
Wolf's StepM set of variants that beat it, on losses = −returns.

The figures are ``arch.bootstrap.SPA`` and ``StepM``'s (stationary bootstrap,
studentized, not nested), computed on chunks of columns so that a sweep of any width
fits in memory: every chunk draws on the same bootstrap indices (arch's own
``StationaryBootstrap`` of the row numbers, from the seed), computes arch's arithmetic
on its columns, and hands back only per-replication maxima and the columns that StepM
may need again. Each column's figures are the same bits whatever chunk holds it (numpy
reduces a C-ordered block down its rows in row order once it is two columns wide, so
no chunk is narrower), and maxima do not depend on order: any chunking, on any number
of Dask workers, gives arch's answer bit for bit.

The benchmark's losses are 0 (a strategy that stays out of the market) unless the
returns of a benchmark backtest on the same rows are given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CHUNK_BYTES = 4 << 20  # one chunk's gathered rows: about what a core's cache holds


@dataclass(frozen=True)
class Bootstrap:
    """The stationary bootstrap's row indices (reps × T), shared by every chunk."""

    indices: np.ndarray
    block: int


def bootstrap(rows: int, reps: int, block_length: float | None, seed: int) -> Bootstrap:
    """arch's stationary bootstrap of ``rows`` rows: the indices its SPA, StepM and MCS
    draw from ``seed`` (mean block ``block_length`` rounded, or arch's default √T)."""
    from arch.bootstrap import StationaryBootstrap

    block = int(np.sqrt(rows)) if block_length is None else max(1, round(block_length))
    draws = StationaryBootstrap(block, np.arange(rows), seed=seed)
    indices = np.empty((reps, rows), dtype=np.intp)
    for n, (positional, _) in enumerate(draws.bootstrap(reps)):
        indices[n] = positional[0]
    return Bootstrap(indices, block)


def column_chunks(columns: int, rows: int, budget: int = CHUNK_BYTES) -> list[slice]:
    """Slices of the columns, each at least two wide, about ``budget`` bytes of rows."""
    width = max(2, budget // max(1, rows * 8))
    starts = list(range(0, columns, width))
    if len(starts) > 1 and columns - starts[-1] < 2:
        starts.pop()
    ends = [*starts[1:], columns]
    return [slice(a, z) for a, z in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class SpaChunk:
    """One chunk of columns' share of SPA and StepM.

    ``mean``: each column's mean loss differential (benchmark − model). ``maximum``:
    per replication, the largest simulated value over the chunk's columns, re-centred
    the lower, consistent and upper way (reps × 3). ``kept``: the chunk's columns whose
    mean is above ``floor`` (only they can be found better than the benchmark), with
    their consistent simulated values (kept × reps); ``rest``: per replication, the
    largest consistent value of the others (−inf when there are none). ``losses_star``:
    each replication's mean losses (reps × columns), when the Model Confidence Set
    needs them.
    """

    start: int
    mean: np.ndarray
    maximum: np.ndarray
    kept: np.ndarray
    kept_consistent: np.ndarray
    rest: np.ndarray
    losses_mean: np.ndarray | None = None
    losses_star: np.ndarray | None = None


def spa_chunk(returns: np.ndarray, base: np.ndarray, boot: Bootstrap, start: int = 0,
              floor: float = 0.0, with_losses: bool = False) -> SpaChunk:  # fmt: skip
    """SPA's simulated values for a T × c block of returns (the columns from
    ``start``) against the benchmark's losses ``base``, reduced as ``SpaChunk`` says."""
    losses = -np.ascontiguousarray(returns, dtype=np.float64)
    loss_diff = base[:, None] - losses  # arch: benchmark − models
    t = len(loss_diff)
    mean = loss_diff.mean(0)
    valid = mean >= -1.0 * np.sqrt((_variance(loss_diff, boot.block) / t)
                                   * 2 * np.log(np.log(t)))  # fmt: skip
    consistent = mean.copy()
    consistent[~valid] = 0.0
    lower = mean.copy()
    lower[lower < 0] = 0.0
    kept = np.flatnonzero(mean > floor)
    others = np.ones(len(mean), dtype=bool)
    others[kept] = False
    reps = len(boot.indices)
    maximum = np.empty((reps, 3))
    kept_consistent = np.empty((len(kept), reps))
    rest = np.full(reps, -np.inf)
    star_losses = np.empty((reps, len(mean))) if with_losses else None
    for n, rows in enumerate(boot.indices):
        drawn = losses[rows]
        star = (base[rows][:, None] - drawn).mean(0)
        for j, centre in enumerate((lower, consistent, mean)):
            simulated = star - centre
            maximum[n, j] = simulated.max()
            if j == 1:
                kept_consistent[:, n] = simulated[kept]
                if others.any():
                    rest[n] = simulated[others].max()
        if star_losses is not None:
            star_losses[n] = drawn.mean(0)
    return SpaChunk(start, mean, maximum, kept, kept_consistent, rest,
                    losses.mean(0) if with_losses else None, star_losses)  # fmt: skip


def _variance(loss_diff: np.ndarray, block: int) -> np.ndarray:
    """arch's asymptotic variance of each column's mean loss differential: the
    stationary bootstrap's kernel over every autocovariance (``SPA._compute_variance``,
    in its order of operations)."""
    t = len(loss_diff)
    p = 1.0 / block
    demeaned = loss_diff - loss_diff.mean(axis=0)
    variances: np.ndarray = np.sum(demeaned**2, 0) / t
    for i in range(1, t):
        kappa = ((1.0 - (i / t)) * ((1 - p) ** i)) + ((i / t) * ((1 - p) ** (t - i)))
        variances += 2 * kappa * np.sum(demeaned[: (t - i), :] * demeaned[i:, :], 0) / t
    return variances


@dataclass(frozen=True)
class SpaResult:
    """The three p-values (``upper`` is White's Reality Check) and StepM's superior
    columns; ``complete`` is False when StepM would drop a column no chunk kept, and the
    chunks must be computed again with ``floor=-inf``."""

    lower: float
    consistent: float
    upper: float
    stepm: list[int]
    complete: bool = True


def combine(chunks: Sequence[SpaChunk], size: float) -> SpaResult:
    """SPA's p-values and StepM's set from the chunks of every column."""
    mean = np.concatenate([c.mean for c in chunks])
    maximum = np.max(np.stack([c.maximum for c in chunks]), axis=0)
    pvalues = (maximum > np.max(mean)).mean(axis=0)
    kept = np.concatenate([c.start + c.kept for c in chunks])
    kept_values = np.concatenate([c.kept_consistent for c in chunks])
    rest = np.max(np.stack([c.rest for c in chunks]), axis=0)
    removed = np.zeros(len(mean), dtype=bool)
    superior: list[int] = []
    crit = np.percentile(maximum, 100.0 * (1 - size), axis=0)[1]
    better = np.flatnonzero((mean > crit) & ~removed)
    while True:  # StepM: drop the columns found better, and test the rest again
        if not set(better.tolist()) <= set(kept.tolist()):
            return SpaResult(*_three(pvalues), stepm=[], complete=False)
        superior += better.tolist()
        if len(better) == 0 or len(superior) >= len(mean):
            break
        removed[better] = True
        left = ~removed[kept]
        step = rest if not left.any() else np.maximum(rest, kept_values[left].max(axis=0))
        crit = np.percentile(step, 100.0 * (1 - size))
        better = np.flatnonzero((mean > crit) & ~removed)
    return SpaResult(*_three(pvalues), stepm=sorted(superior))


def _three(pvalues: np.ndarray) -> tuple[float, float, float]:
    return float(pvalues[0]), float(pvalues[1]), float(pvalues[2])


def superior_ability(
    returns: np.ndarray,
    benchmark: np.ndarray | None = None,
    *,
    reps: int = 1000,
    block_length: float | None = None,
    seed: int = 0,
    size: float = 0.05,
    budget: int = CHUNK_BYTES,
) -> SpaResult:
    """SPA and StepM of a T × N matrix of returns against ``benchmark`` (T returns, or
    None for a benchmark that stays out), chunk after chunk in this process."""
    matrix = np.asarray(returns, dtype=np.float64)
    base = losses_of_benchmark(len(matrix), benchmark)
    boot = bootstrap(len(matrix), reps, block_length, seed)
    parts = column_chunks(matrix.shape[1], len(matrix), budget)
    found = combine([spa_chunk(matrix[:, s], base, boot, s.start) for s in parts], size)
    if not found.complete:
        found = combine([spa_chunk(matrix[:, s], base, boot, s.start, -np.inf)
                         for s in parts], size)  # fmt: skip
    return found


def losses_of_benchmark(rows: int, benchmark: np.ndarray | None) -> np.ndarray:
    """The benchmark's losses: 0 for staying out, else its negated returns."""
    if benchmark is None:
        return np.zeros(rows)
    return -np.asarray(benchmark, dtype=np.float64)
