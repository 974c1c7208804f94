"""The Probability of Backtest Overfitting of a large sweep: 2,000 variants × 2,520 days
with S = 16 (12,870 combinations), against the straightforward loop that concatenates
each combination's rows and takes numpy's mean and std (timed on a sample of the
combinations and scaled to all of them); the same combinations as local Dask tasks; and
the peak memory of a 20,000-variant PBO over the matrix's own size."""

from __future__ import annotations

import itertools
import math
import time
import tracemalloc

import numpy as np

from bench.harness import Result, limit, result, scaled
from domain.overfitting import blocks, probability_of_backtest_overfitting
from projections.analyses import cscv_figures


def _loop_seconds_per_combination(m: np.ndarray, partitions: int, sample: int) -> float:
    """The baseline: per combination, the rows concatenated and their Sharpe by numpy."""
    blocks = np.split(m[len(m) % partitions :], partitions)
    chosen = list(itertools.islice(itertools.combinations(range(partitions),
                                                          partitions // 2), sample))  # fmt: skip
    started = time.perf_counter()
    for train in chosen:
        test = [b for b in range(partitions) if b not in train]
        inside = np.concatenate([blocks[b] for b in train])
        outside = np.concatenate([blocks[b] for b in test])
        best = int(np.argmax(inside.mean(axis=0) / inside.std(axis=0, ddof=1)))
        sharpe = outside.mean(axis=0) / outside.std(axis=0, ddof=1)
        (sharpe < sharpe[best]).sum()
    return (time.perf_counter() - started) / len(chosen)


def run() -> list[Result]:
    rng = np.random.default_rng(1)
    variants, days, partitions = scaled(2_000, 20), 2_520, 16
    m = rng.normal(0.0003, 0.01, (days, variants))
    started = time.perf_counter()
    report = probability_of_backtest_overfitting(m, partitions)
    seconds = time.perf_counter() - started
    per_combination = _loop_seconds_per_combination(m, partitions, scaled(200, 20))
    loop = per_combination * math.comb(partitions, partitions // 2)

    # the same combinations as Dask tasks on this process's threads (what a worker does
    # without a cluster), against the plain call above
    parts = blocks(m, partitions)
    started = time.perf_counter()
    cscv_figures(parts, partitions, lambda share: True, None)
    on_dask = time.perf_counter() - started

    wide = scaled(20_000, 40)
    big = rng.normal(0.0003, 0.01, (days, wide))
    tracemalloc.start()
    probability_of_backtest_overfitting(big, partitions)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return [
        result(f"PBO, {variants:,} variants × {days:,} days, S=16", 1 / seconds, "runs/s",
               "per-combination numpy loop (sampled)", 1 / loop, 10.0),
        limit("PBO wall time", seconds, "s", 30.0, f"PBO {report.pbo:.3f} of pure noise"),
        result("PBO's combinations as local Dask tasks", 1 / on_dask, "runs/s",
               "the same in-process numpy call", 1 / seconds, 0.5),
        limit(f"PBO of {wide:,} variants: peak memory", peak / big.nbytes, "× matrix", 3.0,
              "traced allocations over the matrix's bytes"),
    ]  # fmt: skip
