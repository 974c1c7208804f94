"""The stability of a sweep's best variant on its grid of parameters: each variant's
neighbours are the variants one grid step away in exactly one varying parameter, and a
best variant whose neighbours do much worse (a lone peak, which quants look for by eye
on the heatmap) has a low plateau ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
