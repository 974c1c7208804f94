"""SPA, StepM and the Model Confidence Set of a sweep equal arch's own calls on the same
losses bit for bit, whatever the chunks of columns they are computed in, and go on
where arch cannot: identical variants, and a sweep too wide for arch's memory."""

from __future__ import annotations

import numpy as np
import pytest
from arch.bootstrap import MCS, SPA, StepM

from domain.confidence_set import identical_columns, model_confidence_set
from domain.superior_ability import (
    bootstrap,
    column_chunks,
    combine,
    losses_of_benchmark,
    spa_chunk,
    superior_ability,
)


def _sweep(rows: int = 600, variants: int = 12, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, 0.01, (rows, variants))
    m[:, variants // 3] += 0.003  # a real edge
    m[:, variants // 2] += 0.002  # a smaller one
    return m


def _ours(m: np.ndarray, reps: int, block: float | None, seed: int, size: float,
          budget: int, benchmark: np.ndarray | None = None):  # type: ignore[no-untyped-def]  # fmt: skip
    """SPA and StepM, and the MCS, from chunks of ``budget`` bytes."""
    boot = bootstrap(len(m), reps, block, seed)
    base = losses_of_benchmark(len(m), benchmark)
    chunks = [spa_chunk(m[:, s], base, boot, s.start, with_losses=True)
              for s in column_chunks(m.shape[1], len(m), budget)]  # fmt: skip
    found = combine(chunks, size)
    confidence = model_confidence_set(
        np.concatenate([c.losses_mean for c in chunks]),  # type: ignore[misc]
        np.concatenate([c.losses_star for c in chunks], axis=1),  # type: ignore[misc]
        size, identical_columns(m))  # fmt: skip
    return found, confidence, len(chunks)


@pytest.mark.parametrize(
    ("rows", "variants", "reps", "block", "seed", "widths"),
    [
        (600, 12, 300, 9.6, 5, None),  # one chunk
        (600, 12, 300, 9.6, 5, 3),
        (400, 41, 200, None, 1, 2),  # 20 chunks, the last three wide: none is one wide
        (300, 7, 100, None, 2, 2),
        (500, 3, 150, 4.0, 3, None),
    ],
)
def test_spa_stepm_and_mcs_are_archs_bit_for_bit_in_any_chunks(
    rows: int, variants: int, reps: int, block: float | None, seed: int, widths: int | None
) -> None:
    m = _sweep(rows, variants, seed)
    budget = 10**12 if widths is None else rows * 8 * widths
    found, confidence, chunks = _ours(m, reps, block, seed, 0.1, budget)
    assert chunks == (1 if widths is None else variants // widths)
    losses, zero = -m, np.zeros(rows)
    size = None if block is None else round(block)
    spa = SPA(zero, losses, block_size=size, reps=reps, seed=seed)  # stationary, studentized
    spa.compute()
    assert (found.lower, found.consistent, found.upper) == tuple(
        spa.pvalues[["lower", "consistent", "upper"]]
    )
    stepm = StepM(zero, losses, size=0.1, block_size=size, reps=reps, seed=seed)
    stepm.compute()
    assert found.stepm == sorted(stepm.superior_models) and variants // 3 in found.stepm
    mcs = MCS(losses, size=0.1, reps=reps, block_size=size, method="R", seed=seed)
    mcs.compute()
    assert confidence.included == sorted(mcs.included)
    assert confidence.pvalues == mcs.pvalues["Pvalue"].sort_index().tolist()  # every one


def test_the_in_process_call_is_the_chunked_one() -> None:
    m = _sweep()
    whole = superior_ability(m, reps=300, block_length=9.6, seed=5, size=0.1)
    narrow = superior_ability(m, reps=300, block_length=9.6, seed=5, size=0.1, budget=600 * 16)
    assert whole == narrow
    assert whole.upper < 0.05  # the skilled column beats staying out


def test_a_benchmark_backtest_replaces_staying_out() -> None:
    m = _sweep()
    benchmark = m[:, 4]  # the skilled column itself: nothing beats it by much
    ours = superior_ability(m, benchmark, reps=300, seed=5)
    spa = SPA(-benchmark, -m, reps=300, seed=5)
    spa.compute()
    assert ours.upper == float(spa.pvalues["upper"]) and ours.upper > 0.1


def test_stepm_goes_back_for_columns_no_chunk_kept() -> None:
    """Chunks keep the consistent simulated values of the columns whose mean loss
    differential is above ``floor``; StepM needs them for any column it drops. Kept too
    few, the result says so, and kept all, it is arch's."""
    m = _sweep()
    boot, base = bootstrap(600, 300, None, 5), np.zeros(600)
    slices = column_chunks(12, 600, 600 * 8 * 4)
    too_few = combine([spa_chunk(m[:, s], base, boot, s.start, np.inf) for s in slices], 0.1)
    assert not too_few.complete and too_few.stepm == []
    every = combine([spa_chunk(m[:, s], base, boot, s.start, -np.inf) for s in slices], 0.1)
    stepm = StepM(np.zeros(600), -m, size=0.1, reps=300, seed=5)
    stepm.compute()
    assert every.complete and every.stepm == sorted(stepm.superior_models) != []


def test_identical_variants_are_one_model_of_the_confidence_set() -> None:
    """arch divides 0 by 0 on two identical columns and fails; here they are one model,
    whose set is arch's on the matrix without the copy, the copy in or out with it."""
    m = _sweep(400, 9, 3)
    m[:, 7] = m[:, 2]  # a parameter that changed no trade
    m[:, 8] = m[:, 3] + 0.0  # the skilled one, again
    losses = -m
    with pytest.raises(IndexError), np.errstate(invalid="ignore"):
        MCS(losses, size=0.1, reps=200, method="R", seed=2).compute()
    _, confidence, _ = _ours(m, 200, None, 2, 0.1, 10**12)
    alone = MCS(losses[:, :7], size=0.1, reps=200, method="R", seed=2)
    alone.compute()
    assert [i for i in confidence.included if i < 7] == sorted(alone.included)
    assert (2 in confidence.included) == (7 in confidence.included)
    assert 3 in confidence.included and 8 in confidence.included
    assert confidence.pvalues[7] == confidence.pvalues[2]
    assert identical_columns(np.array([[0.0, -0.0, 1.0], [1.0, 1.0, 1.0]])).tolist() == [0, 0, 2]


def test_the_confidence_set_reports_progress_and_can_be_stopped() -> None:
    m = _sweep(300, 150, 4)
    boot = bootstrap(300, 50, None, 4)
    chunk = spa_chunk(m, np.zeros(300), boot, with_losses=True)
    heard: list[float] = []
    model_confidence_set(chunk.losses_mean, chunk.losses_star, 0.1, tick=heard.append)  # type: ignore[arg-type]
    assert heard == sorted(heard) and heard[0] == 0.0 and 0.9 < heard[-1] <= 1.0
    assert len(heard) >= 4

    class Enough(Exception):
        pass

    def stop(share: float) -> None:
        if share > 0.2:
            raise Enough

    with pytest.raises(Enough):
        model_confidence_set(chunk.losses_mean, chunk.losses_star, 0.1, tick=stop)  # type: ignore[arg-type]
