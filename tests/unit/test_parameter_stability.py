"""The parameter-stability figures equal a plateau worked out by hand on a small grid."""

from __future__ import annotations

import pytest

from domain.parameter_stability import parameter_stability


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
