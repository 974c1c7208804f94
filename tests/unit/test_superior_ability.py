"""SPA, StepM and MCS of a sweep equal arch's own calls on the same losses, and the
parameter-stability figures equal a plateau worked out by hand on a small grid."""

from __future__ import annotations

import numpy as np
import pytest
from arch.bootstrap import MCS, SPA, StepM

from domain.superior_ability import parameter_stability, superior_ability


def _sweep() -> np.ndarray:
    rng = np.random.default_rng(11)
    m = rng.normal(0.0, 0.01, (600, 12))
    m[:, 4] += 0.003  # a real edge
    return m


def test_spa_stepm_and_mcs_are_archs_on_the_negated_returns() -> None:
    m = _sweep()
    ours = superior_ability(m, reps=300, block_length=9.6, seed=5, size=0.1)
    losses, zero = -m, np.zeros(len(m))
    spa = SPA(zero, losses, block_size=10, reps=300, seed=5)  # stationary, studentized
    spa.compute()
    assert (ours.spa_lower, ours.spa_consistent, ours.spa_upper) == tuple(
        spa.pvalues[["lower", "consistent", "upper"]]
    )
    stepm = StepM(zero, losses, size=0.1, block_size=10, reps=300, seed=5)
    stepm.compute()
    mcs = MCS(losses, size=0.1, reps=300, block_size=10, method="R", seed=5)
    mcs.compute()
    assert ours.stepm == sorted(stepm.superior_models) and 4 in ours.stepm
    assert ours.mcs == sorted(mcs.included) and 4 in ours.mcs
    assert ours.spa_upper < 0.05  # the skilled column beats staying out


def test_a_benchmark_backtest_replaces_staying_out() -> None:
    m = _sweep()
    benchmark = m[:, 4]  # the skilled column itself: nothing beats it by much
    ours = superior_ability(m, benchmark, reps=300, seed=5)
    spa = SPA(-benchmark, -m, reps=300, seed=5)
    spa.compute()
    assert ours.spa_upper == float(spa.pvalues["upper"]) and ours.spa_upper > 0.1


def test_the_plateau_ratio_of_a_peak_and_of_a_plateau() -> None:
    grid = [{"fast": f, "slow": s} for f in (5, 10, 20) for s in (50, 100, 200)]
    # a lone peak at (10, 100): its four neighbours have 0.2 each
    peak = [0.1, 0.2, 0.1, 0.2, 1.0, 0.2, 0.1, 0.2, 0.1]
    found = parameter_stability(grid, peak)
    assert found is not None and found.best == 4
    assert found.plateau_ratio == pytest.approx(0.2, rel=1e-12)
    # a corner's neighbours: (5, 100) and (10, 50)
    assert found.neighbour_sharpe[0] == pytest.approx(0.2, rel=1e-12)
    plateau = [0.1, 0.9, 0.1, 0.9, 1.0, 0.9, 0.1, 0.9, 0.1]
    steady = parameter_stability(grid, plateau)
    assert steady is not None and steady.plateau_ratio == pytest.approx(0.9, rel=1e-12)
    # ties go to the first variant; a null Sharpe is nobody's neighbour
    assert parameter_stability(grid, [1.0, None, *[0.5] * 7]).best == 0  # type: ignore[union-attr]


def test_no_stability_without_a_numeric_grid() -> None:
    assert parameter_stability([{"kind": "a"}, {"kind": "b"}], [1.0, 2.0]) is None  # type: ignore[list-item]
    assert parameter_stability([{"fast": 5}, {"slow": 9}], [1.0, 2.0]) is None
    assert parameter_stability([{"fast": 5}, {"fast": 5}], [1.0, 2.0]) is None
