"""Charts of any length stay small and draw every pixel column's lowest and highest
value, so the deepest drawdown on a page is the backtest's own."""

from __future__ import annotations

import re

import numpy as np

from api.web.charts import COLUMNS, column_extremes, line_chart


def _attr(svg: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]+)"', svg)
    assert found, name
    return found.group(1)


def test_a_short_series_is_drawn_point_for_point_and_nulls_are_skipped() -> None:
    series = [1.0, None, 3.0, float("nan"), 2.0]
    assert column_extremes(series) == [(0, 1.0), (2, 3.0), (4, 2.0)]
    svg = str(line_chart([series], ["x"], ("a", "b"), title="t"))
    assert (_attr(svg, "data-points"), _attr(svg, "data-of")) == ("3", "3")


def test_a_long_series_keeps_each_columns_extremes_by_brute_force() -> None:
    rng = np.random.default_rng(3)
    series = list(np.cumsum(rng.normal(0, 1, 20_000)))
    series[123] = None
    kept = column_extremes(series)
    # the oracle: bucket every finite point by its pixel column, keep min and max
    columns: dict[int, list[tuple[int, float]]] = {}
    for i, v in enumerate(series):
        if v is not None:
            columns.setdefault(i * COLUMNS // len(series), []).append((i, v))
    want = set()
    for points in columns.values():
        want.add(min(points, key=lambda p: (p[1], p[0])))
        want.add(min(points, key=lambda p: (-p[1], p[0])))
    assert set(kept) == want
    assert [i for i, _ in kept] == sorted(i for i, _ in kept)


def test_a_million_day_drawdown_draws_in_bounded_size_with_its_exact_trough() -> None:
    rng = np.random.default_rng(5)
    equity = 100 * np.cumprod(1 + rng.normal(0.0002, 0.01, 1_000_000))
    drawdown = (equity / np.maximum.accumulate(equity) - 1).tolist()
    svg = str(line_chart([drawdown], ["dd"], ("a", "b"), title="Drawdown", area=True))
    assert int(_attr(svg, "data-points")) <= 2 * COLUMNS
    assert _attr(svg, "data-of") == "1000000"
    assert float(_attr(svg, "data-low")) == min(drawdown)
    assert float(_attr(svg, "data-high")) == max(drawdown) == 0.0
    assert len(svg) < 100_000
