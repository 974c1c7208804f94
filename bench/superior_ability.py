"""SPA with 1,000 replications on 2,000 variants × 2,520 days, as an analysis job
computes it (chunks of columns as Dask tasks on this process's threads), against arch's
own SPA on the same matrix, whose p-values it must equal; the Model Confidence Set of
those 2,000 variants, which arch would hold in reps × N² floats; and a 20,000-variant
SPA's peak memory over the matrix's own size."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from bench.harness import Result, limit, result, scaled
from domain.analysis_request import AnalysisRequest
from projections.analyses import spa_figures


def _always(share: float) -> bool:
    return True


def run() -> list[Result]:
    from arch.bootstrap import SPA

    rng = np.random.default_rng(2)
    variants, days, reps = scaled(2_000, 20), 2_520, scaled(1_000, 50)
    m = rng.normal(0.0002, 0.01, (days, variants))
    request = AnalysisRequest(reps=reps, seed=7)
    heard: list[tuple[float, float]] = []

    def timed(share: float) -> bool:
        heard.append((share, time.perf_counter()))
        return True

    started = time.perf_counter()
    ours, confidence = spa_figures(m, None, request, timed, None)
    seconds = time.perf_counter() - started
    bootstrapped = max(t for share, t in heard if share <= 0.9 + 1e-12) - started

    started = time.perf_counter()
    theirs = SPA(np.zeros(days), -m, reps=reps, bootstrap="stationary", studentize=True,
                 nested=False, seed=7)  # fmt: skip
    theirs.compute()
    arch_seconds = time.perf_counter() - started
    same = (ours.lower, ours.consistent, ours.upper) == tuple(theirs.pvalues)
    assert same, ((ours.lower, ours.consistent, ours.upper), theirs.pvalues)

    wide = scaled(20_000, 40)
    big = rng.normal(0.0002, 0.01, (days, wide))
    tracemalloc.start()
    started = time.perf_counter()
    spa_figures(big, None, AnalysisRequest(reps=reps, seed=7), _always, None)
    wide_seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    arch_mcs = reps * variants * variants * 8 / 2**30
    return [
        result(f"SPA+StepM, {variants:,} × {days:,}, {reps:,} reps", 1 / bootstrapped, "runs/s",
               "arch's SPA alone, same matrix", 1 / arch_seconds, 1.0),
        limit("SPA p-values equal arch's", 0.0 if same else 1.0, "differ", 0.5,
              f"lower/consistent/upper {ours.lower}/{ours.consistent}/{ours.upper}"),
        limit(f"MCS of {variants:,} variants", seconds - bootstrapped, "s", 120.0,
              f"{len(confidence.included) if confidence else '-'} kept; arch's would hold "
              f"{arch_mcs:.1f} GiB"),
        limit(f"SPA of {wide:,} variants: peak memory", peak / big.nbytes, "× matrix", 2.0,
              f"traced allocations over the matrix's bytes, {wide_seconds:.0f} s"),
    ]  # fmt: skip
