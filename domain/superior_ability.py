"""Whether the best variant of a sweep beats a benchmark beyond luck: Hansen's test of
Superior Predictive Ability (whose upper p-value is White's Reality Check), Romano and
Wolf's StepM set of variants that beat it, and Hansen, Lunde and Nason's Model
Confidence Set, each by ``arch.bootstrap`` on losses = −returns.

The benchmark's losses are 0 (a strategy that stays out of the market) unless the
returns of a benchmark backtest on the same rows are given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SuperiorAbility:
    """The three p-values of SPA (``upper`` is the Reality Check), the StepM set and the
    Model Confidence Set, as column indices of the matrix."""

    spa_lower: float
    spa_consistent: float
    spa_upper: float
    stepm: list[int]
    mcs: list[int]


def superior_ability(
    returns: np.ndarray,
    benchmark: np.ndarray | None = None,
    *,
    reps: int = 1000,
    block_length: float | None = None,
    seed: int = 0,
    size: float = 0.05,
) -> SuperiorAbility:
    """SPA, StepM and MCS of a T × N matrix of returns against ``benchmark`` (T returns,
    or None for a benchmark that stays out), with a stationary bootstrap of ``reps``
    replications, mean block ``block_length`` (arch's default when None) and ``seed``."""
    from arch.bootstrap import MCS, SPA, StepM

    losses = -np.asarray(returns, dtype=np.float64)
    base = np.zeros(len(losses)) if benchmark is None else -np.asarray(benchmark, np.float64)
    block = None if block_length is None else max(1, round(block_length))
    spa = SPA(base, losses, block_size=block, reps=reps, bootstrap="stationary",
              studentize=True, nested=False, seed=seed)  # fmt: skip
    spa.compute()
    stepm = StepM(base, losses, size=size, block_size=block, reps=reps, bootstrap="stationary",
                  studentize=True, nested=False, seed=seed)  # fmt: skip
    stepm.compute()
    mcs = MCS(losses, size=size, reps=reps, block_size=block, method="R",
              bootstrap="stationary", seed=seed)  # fmt: skip
    mcs.compute()
    pvalues = spa.pvalues
    return SuperiorAbility(
        spa_lower=float(pvalues["lower"]),
        spa_consistent=float(pvalues["consistent"]),
        spa_upper=float(pvalues["upper"]),
        stepm=_columns(stepm.superior_models),
        mcs=_columns(mcs.included),
    )


def _columns(labels: Iterable[object]) -> list[int]:
    """arch's labels of a numpy matrix's columns (their indices), as sorted ints."""
    return sorted(int(str(label)) for label in labels)


@dataclass(frozen=True)
class Stability:
    """Each variant's mean neighbour Sharpe (None without neighbours), and the best
    variant's plateau ratio: its neighbours' mean Sharpe over its own."""

    neighbour_sharpe: list[float | None]
    best: int | None
    plateau_ratio: float | None


def parameter_stability(
    grid: list[dict[str, float]], sharpe: list[float | None]
) -> Stability | None:
    """Neighbours on a grid of numeric parameters: variants that differ in exactly one
    varying parameter, by one step of that parameter's sorted distinct values. None
    when the varying parameters are not all numbers given by every variant."""
    names = sorted({name for point in grid for name in point})
    if not grid or any(set(point) != set(names) for point in grid):
        return None
    if any(isinstance(v, bool) or not isinstance(v, int | float) for p in grid for v in p.values()):
        return None
    varying = [name for name in names if len({point[name] for point in grid}) > 1]
    if not varying:
        return None
    steps = {name: sorted({point[name] for point in grid}) for name in varying}
    index = {name: {value: i for i, value in enumerate(steps[name])} for name in varying}
    where: dict[tuple[int, ...], list[int]] = {}
    for n, point in enumerate(grid):
        where.setdefault(tuple(index[name][point[name]] for name in varying), []).append(n)
    means: list[float | None] = []
    for point in grid:
        here = [index[name][point[name]] for name in varying]
        around = []
        for axis in range(len(varying)):
            for step in (-1, 1):
                moved = list(here)
                moved[axis] += step
                around += where.get(tuple(moved), [])
        known = [s for s in (sharpe[i] for i in around) if s is not None]
        means.append(float(np.mean(known)) if known else None)
    ranked = [(s, -n) for n, s in enumerate(sharpe) if s is not None]
    if not ranked:
        return Stability(means, None, None)
    best = -max(ranked)[1]
    own, theirs = sharpe[best], means[best]
    ratio = None if theirs is None or not own else theirs / own
    return Stability(means, best, ratio)
