"""The Probability of Backtest Overfitting of a whole sweep, by combinatorially symmetric
cross-validation (Bailey, Borwein, López de Prado & Zhu, "The Probability of Backtest
Overfitting", Journal of Computational Finance, 2017; CSCV).

Given the sweep's returns as a T × N matrix (a row per period, a column per variant):

- the oldest T mod S rows are dropped, the rest cut into S contiguous blocks of equal
  size (S even);
- each of the C(S, S/2) choices of S/2 blocks is a training set J, its complement the
  test set;
- performance is the per-period Sharpe ratio, mean / std (ddof=1), of the rows of the
  blocks concatenated;
- n* is the best variant in sample (the first in column order on ties); its rank out
  of sample among the N, with average ranks for ties (1 = worst), gives
  ω = rank / (N + 1) and the logit λ = ln(ω / (1 − ω));
- PBO is the share of the combinations with λ ≤ 0.

Each combination costs O(S·N), not O(T·N): a set's mean and variance come from the
blocks' sums and sums of squares. A combination's figures depend on its blocks only and
are summed in a fixed order, so they are the same bits however the combinations are
cut into chunks (``cscv_chunk``), wherever each chunk runs.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

MIN_PARTITIONS, MAX_PARTITIONS = 2, 24
HISTOGRAM_BINS = 20


class NotEnoughData(ValueError):
    """A matrix CSCV cannot use, with the reason."""


@dataclass(frozen=True)
class Blocks:
    """The S blocks of a matrix: each one's row count, column sums and sums of squares."""

    rows: int  # in each block
    sums: np.ndarray  # S × N
    squares: np.ndarray  # S × N
    dropped: int  # the oldest rows left out (T mod S)


def blocks(returns: np.ndarray, partitions: int) -> Blocks:
    """The blocks of a T × N matrix of returns (no NaN) for ``partitions`` = S."""
    if partitions % 2 or not MIN_PARTITIONS <= partitions <= MAX_PARTITIONS:
        raise NotEnoughData(
            f"partitions must be even, {MIN_PARTITIONS} to {MAX_PARTITIONS} ({partitions} given)"
        )
    periods, variants = returns.shape
    if variants < 2:
        raise NotEnoughData(f"the matrix has {variants} variant(s): at least 2 are needed")
    if periods < 4 * partitions:
        raise NotEnoughData(
            f"the matrix has {periods} rows: at least 4 × partitions = {4 * partitions} are needed"
        )
    dropped = periods % partitions
    size = periods // partitions
    cut = returns[dropped:].reshape(partitions, size, variants)
    # squares block by block: no temporary the size of the matrix
    squares = np.stack([np.einsum("ij,ij->j", block, block) for block in cut])
    return Blocks(size, cut.sum(axis=1), squares, dropped)


def combinations(partitions: int) -> np.ndarray:
    """Every training set: the C(S, S/2) choices of S/2 block indices, in lexicographic
    order, one per row."""
    chosen = itertools.combinations(range(partitions), partitions // 2)
    return np.array(list(chosen), dtype=np.intp)


@dataclass(frozen=True)
class ChunkFigures:
    """For each combination of a chunk: λ, and n*'s Sharpe in and out of sample."""

    logits: np.ndarray
    in_sample: np.ndarray
    out_of_sample: np.ndarray


def _sharpe(sums: np.ndarray, squares: np.ndarray, n: int) -> np.ndarray:
    """mean / std(ddof=1) per column from a set's sums; NaN where std is 0."""
    mean = sums / n
    variance = (squares - sums * mean) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = mean / np.sqrt(np.maximum(variance, 0.0))
    out[~np.isfinite(out)] = np.nan
    return out


def cscv_chunk(parts: Blocks, chosen: np.ndarray) -> ChunkFigures:
    """The figures of the combinations ``chosen`` (rows of ``combinations``)."""
    half = chosen.shape[1] * parts.rows
    train_sums = parts.sums[chosen].sum(axis=1)  # c × N, each row summed in block order
    train_squares = parts.squares[chosen].sum(axis=1)
    # the complement's sums added up directly (not total minus training): the test set
    # of J is then exactly the training set of its complement, bit for bit
    complement = _complements(chosen, parts.sums.shape[0])
    test_sums = parts.sums[complement].sum(axis=1)
    test_squares = parts.squares[complement].sum(axis=1)
    inside = _sharpe(train_sums, train_squares, half)
    outside = _sharpe(test_sums, test_squares, half)
    best = np.nanargmax(np.where(np.isnan(inside), -np.inf, inside), axis=1)
    rows = np.arange(len(chosen))
    theirs = outside[rows, best]
    below = (outside < theirs[:, None]).sum(axis=1)
    level = (outside == theirs[:, None]).sum(axis=1)
    rank = below + (level + 1) / 2.0  # average rank among ties, 1 = worst
    omega = rank / (outside.shape[1] + 1)
    return ChunkFigures(np.log(omega / (1.0 - omega)), inside[rows, best], theirs)


def _complements(chosen: np.ndarray, partitions: int) -> np.ndarray:
    mask = np.ones((len(chosen), partitions), dtype=bool)
    mask[np.arange(len(chosen))[:, None], chosen] = False
    return np.nonzero(mask)[1].reshape(len(chosen), partitions - chosen.shape[1])


@dataclass(frozen=True)
class Degradation:
    """OLS of n*'s out-of-sample Sharpe on its in-sample Sharpe (annualised)."""

    slope: float | None
    intercept: float | None
    r_squared: float | None


@dataclass(frozen=True)
class OverfittingReport:
    partitions: int
    combinations: int
    rows_used: int
    rows_dropped: int
    pbo: float
    probability_of_loss: float
    degradation: Degradation
    histogram_counts: list[int]
    histogram_edges: list[float]


def summarise(figures: ChunkFigures, parts: Blocks, periods_per_year: float) -> OverfittingReport:
    """PBO and its companions from every combination's figures, in combination order."""
    logits = figures.logits
    scale = math.sqrt(periods_per_year)
    inside, outside = figures.in_sample * scale, figures.out_of_sample * scale
    counts, edges = np.histogram(logits[np.isfinite(logits)], bins=HISTOGRAM_BINS)
    partitions = parts.sums.shape[0]
    return OverfittingReport(
        partitions=partitions,
        combinations=len(logits),
        rows_used=parts.rows * partitions,
        rows_dropped=parts.dropped,
        pbo=float(np.mean(logits <= 0)),
        probability_of_loss=float(np.mean(figures.out_of_sample < 0)),
        degradation=_ols(inside, outside),
        histogram_counts=[int(c) for c in counts],
        histogram_edges=[float(e) for e in edges],
    )


def _ols(x: np.ndarray, y: np.ndarray) -> Degradation:
    known = np.isfinite(x) & np.isfinite(y)
    x, y = x[known], y[known]
    if len(x) < 2 or float(np.var(x)) == 0:
        return Degradation(None, None, None)
    dx, dy = x - x.mean(), y - y.mean()
    slope = float((dx * dy).sum() / (dx * dx).sum())
    intercept = float(y.mean() - slope * x.mean())
    residual = y - (intercept + slope * x)
    total = float((dy * dy).sum())
    r_squared = None if total == 0 else 1.0 - float((residual * residual).sum()) / total
    return Degradation(slope, intercept, r_squared)


# What a chunk's gathered block sums may take: its combinations × S/2 blocks × N × 8 bytes.
CHUNK_BYTES = 32 * 2**20


def chunk_size(partitions: int, variants: int, budget: int = CHUNK_BYTES) -> int:
    """How many combinations a chunk holds within ``budget`` bytes."""
    return max(1, budget // (partitions // 2 * variants * 8))


def probability_of_backtest_overfitting(
    returns: np.ndarray,
    partitions: int = 16,
    periods_per_year: float = 252,
    chunk: int | None = None,
) -> OverfittingReport:
    """PBO of a T × N matrix of returns, the combinations taken ``chunk`` at a time
    (default: ``chunk_size``, within the matrix's own size or ``CHUNK_BYTES``)."""
    matrix = np.asarray(returns, dtype=np.float64)
    parts = blocks(matrix, partitions)
    chunk = chunk or chunk_size(partitions, parts.sums.shape[1], min(CHUNK_BYTES, matrix.nbytes))
    every = combinations(partitions)
    pieces = [cscv_chunk(parts, every[i : i + chunk]) for i in range(0, len(every), chunk)]
    joined = ChunkFigures(*(np.concatenate([getattr(p, name) for p in pieces])
                            for name in ("logits", "in_sample", "out_of_sample")))  # fmt: skip
    return summarise(joined, parts, periods_per_year)
