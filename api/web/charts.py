"""Charts rendered on the server as SVG: no JavaScript, no external assets.

Each chart says how many points it drew (``data-points``) of how many finite values
(``data-of``), and the lowest and highest value it drew (``data-low``, ``data-high``).
A long series is drawn by its extremes per pixel column, so a page of any backtest
stays small while a peak or the deepest drawdown is drawn exactly.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from markupsafe import Markup

from domain.downsampling import as_floats, extreme_indices

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f")
WIDTH, PAD = 960, 44


def _scale(values: Sequence[float], top: float, bottom: float) -> tuple[float, float]:
    low, high = min(values), max(values)
    if math.isclose(low, high):
        low, high = low - 1e-9 - abs(low) * 0.01, high + 1e-9 + abs(high) * 0.01
    return low, high


COLUMNS = WIDTH - 2 * PAD  # the plot's width in SVG units: one point pair per unit at most


def column_extremes(series: Sequence[float | None]) -> list[tuple[int, float]]:
    """The (index, value) of the points to draw: every finite one while they fit two to
    a pixel column; past that, in each column its lowest and highest, in their order,
    so that a long series draws in bounded size with its peaks and troughs exact."""
    values = as_floats(series)
    kept = extreme_indices(values, COLUMNS)
    return list(zip(kept.tolist(), values[kept].tolist(), strict=True))


def _points(
    kept: list[tuple[int, float]], length: int, low: float, high: float, height: int
) -> list[str]:
    n = max(length - 1, 1)
    span = high - low
    return [
        f"{PAD + i * (WIDTH - 2 * PAD) / n:.1f},{PAD / 2 + (high - v) / span * (height - PAD):.1f}"
        for i, v in kept
    ]


def _axis(low: float, high: float, height: int, fmt: str, labels: tuple[str, str]) -> str:
    return (
        f'<text x="4" y="{PAD / 2 + 4}" class="tick">{format(high, fmt)}</text>'
        f'<text x="4" y="{height - PAD / 2}" class="tick">{format(low, fmt)}</text>'
        f'<text x="{PAD}" y="{height - 4}" class="tick">{html.escape(labels[0])}</text>'
        f'<text x="{WIDTH - PAD}" y="{height - 4}" class="tick" text-anchor="end">'
        f"{html.escape(labels[1])}</text>"
    )


def line_chart(
    series: Sequence[Sequence[float | None]],
    names: Sequence[str],
    dates: tuple[str, str],
    *,
    title: str,
    height: int = 300,
    fmt: str = ".3g",
    area: bool = False,
) -> Markup:
    """One or more series over the same x axis; ``area`` fills down from zero."""
    known = [v for s in series for v in s if v is not None and math.isfinite(v)]
    if not known:
        return Markup(f'<p class="empty">{html.escape(title)}: no data</p>')
    low, high = _scale(known + ([0.0] if area else []), 0, height)
    kept = [column_extremes(values) for values in series]
    pairs = zip(kept, series, strict=True)
    drawn = [_points(k, len(values), low, high, height) for k, values in pairs]
    values_drawn = [v for points in kept for _, v in points]
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{html.escape(title)}" data-points="{len(values_drawn)}" '
        f'data-of="{len(known)}" data-low="{min(values_drawn)!r}" '
        f'data-high="{max(values_drawn)!r}" '
        f'preserveAspectRatio="none"><title>{html.escape(title)}</title>',
        _axis(low, high, height, fmt, dates),
    ]
    for index, points in enumerate(drawn):
        colour = PALETTE[index % len(PALETTE)]
        if area and points:
            zero = PAD / 2 + high / (high - low) * (height - PAD)
            first_x, last_x = points[0].split(",")[0], points[-1].split(",")[0]
            polygon = " ".join([f"{first_x},{zero:.1f}", *points, f"{last_x},{zero:.1f}"])
            parts.append(f'<polygon points="{polygon}" fill="{colour}" fill-opacity="0.25"/>')
        parts.append(
            f'<polyline class="series" data-name="{html.escape(names[index])}" '
            f'data-points="{len(points)}" points="{" ".join(points)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.5" vector-effect="non-scaling-stroke"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def heat_colour(value: float | None, scale: float = 0.1) -> str:
    """Green for gains, red for losses, stronger with size (saturating at ``scale``)."""
    if value is None or not math.isfinite(value):
        return "transparent"
    strength = min(abs(value) / scale, 1.0)
    hue = "22, 163, 74" if value >= 0 else "220, 38, 38"
    return f"rgba({hue}, {0.12 + 0.7 * strength:.2f})"


def _ordered(values: set[str]) -> list[str]:
    """Axis labels in numeric order when they are all numbers, else in text order."""
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


def grid_heatmap(
    cells: Sequence[tuple[str, str, float | None, int]],
    *,
    x_name: str,
    y_name: str,
    title: str,
    fmt: str = ".2f",
) -> Markup:
    """A metric over two parameters: one coloured cell per (x, y) pair with its value,
    columns for ``x``, rows for ``y``; a cell with no backtest stays blank."""
    if not cells:
        return Markup(f'<p class="empty">{html.escape(title)}: no data</p>')
    xs, ys = _ordered({c[0] for c in cells}), _ordered({c[1] for c in cells})
    known = [abs(c[2]) for c in cells if c[2] is not None and math.isfinite(c[2])]
    scale = max(known, default=1.0) or 1.0
    cell_w, cell_h, left, top = 72, 28, 96, 40
    width, height = left + cell_w * len(xs) + 8, top + cell_h * len(ys) + 8
    parts = [
        f'<svg class="heatmap" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{html.escape(title)}" '
        f'data-cells="{len(cells)}"><title>{html.escape(title)}</title>',
        f'<text x="{left}" y="12" class="tick">{html.escape(x_name)} →</text>',
        f'<text x="4" y="{top - 6}" class="tick">{html.escape(y_name)} ↓</text>',
    ]
    for i, x in enumerate(xs):
        parts.append(f'<text x="{left + i * cell_w + cell_w / 2}" y="{top - 6}" '
                     f'class="tick" text-anchor="middle">{html.escape(x)}</text>')  # fmt: skip
    for j, y in enumerate(ys):
        parts.append(f'<text x="4" y="{top + j * cell_h + 18}" class="tick">'
                     f"{html.escape(y)}</text>")  # fmt: skip
    for x, y, mean, count in cells:
        cx, cy = left + xs.index(x) * cell_w, top + ys.index(y) * cell_h
        label = "—" if mean is None else format(mean, fmt)
        parts.append(
            f'<g class="cell" data-x="{html.escape(x)}" data-y="{html.escape(y)}">'
            f'<rect x="{cx}" y="{cy}" width="{cell_w - 2}" height="{cell_h - 2}" '
            f'fill="{heat_colour(mean, scale)}"><title>{html.escape(x_name)}={html.escape(x)}, '
            f"{html.escape(y_name)}={html.escape(y)}: {label} over {count}</title></rect>"
            f'<text x="{cx + cell_w / 2}" y="{cy + 18}" text-anchor="middle" class="tick">'
            f"{label}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram_chart(counts: Sequence[int], edges: Sequence[float], *, title: str,
                    marker: float | None = None) -> Markup:  # fmt: skip
    """Bars of ``counts`` over the bins ``edges``, a line at ``marker`` (λ = 0)."""
    if not counts or not any(counts):
        return Markup(f'<p class="empty">{html.escape(title)}: no data</p>')
    width, height, left, bottom = 480, 160, 8, 24
    span = (edges[-1] - edges[0]) or 1.0
    top = max(counts)

    def x_of(value: float) -> float:
        return left + (value - edges[0]) / span * (width - 2 * left)

    parts = [f'<svg class="histogram" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{html.escape(title)}" '
             f'data-bars="{len(counts)}" data-total="{sum(counts)}">'
             f"<title>{html.escape(title)}</title>"]  # fmt: skip
    for count, low, high in zip(counts, edges[:-1], edges[1:], strict=True):
        bar = (height - bottom - 8) * count / top
        wide = max(1.0, x_of(high) - x_of(low) - 1)
        parts.append(f'<rect x="{x_of(low):.1f}" y="{height - bottom - bar:.1f}" '
                     f'width="{wide:.1f}" height="{bar:.1f}" fill="{PALETTE[0]}">'
                     f"<title>{low:.2f} to {high:.2f}: {count}</title></rect>")  # fmt: skip
    if marker is not None and edges[0] <= marker <= edges[-1]:
        at = x_of(marker)
        parts.append(f'<line x1="{at:.1f}" x2="{at:.1f}" y1="4" y2="{height - bottom}" '
                     f'stroke="{PALETTE[1]}" stroke-dasharray="4 3"/>'
                     f'<text x="{at + 3:.1f}" y="14" class="tick">λ = 0</text>')  # fmt: skip
    parts.append(f'<text x="{left}" y="{height - 6}" class="tick">{edges[0]:.2f}</text>'
                 f'<text x="{width - left}" y="{height - 6}" class="tick" '
                 f'text-anchor="end">{edges[-1]:.2f}</text></svg>')  # fmt: skip
    return Markup("".join(parts))


def scatter_chart(xs: Sequence[float], ys: Sequence[float], *, title: str,
                  labels: tuple[str, str]) -> Markup:  # fmt: skip
    """Points (x, y) with both axes' ranges written out: at most ``WIDTH`` points, the
    first ones (a chart of every combination would weigh megabytes)."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if len(pairs) < 2:
        return Markup(f'<p class="empty">{html.escape(title)}: no data</p>')
    shown = pairs[:WIDTH]
    width, height, pad = 480, 240, 30
    lo_x, hi_x = min(p[0] for p in shown), max(p[0] for p in shown)
    lo_y, hi_y = min(p[1] for p in shown), max(p[1] for p in shown)

    def at(value: float, low: float, high: float, size: float) -> float:
        return pad + (value - low) / ((high - low) or 1.0) * (size - 2 * pad)

    named = html.escape(title)
    parts = [f'<svg class="scatter" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{named}" '
             f'data-points="{len(shown)}" data-of="{len(pairs)}">'
             f"<title>{named}</title>"]  # fmt: skip
    for x, y in shown:
        cx, cy = at(x, lo_x, hi_x, width), height - at(y, lo_y, hi_y, height)
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2" fill="{PALETTE[0]}"/>')
    parts.append(f'<text x="{pad}" y="{height - 6}" class="tick">{html.escape(labels[0])} '
                 f'{lo_x:.2f} to {hi_x:.2f}</text><text x="4" y="14" class="tick">'
                 f'{html.escape(labels[1])} {lo_y:.2f} to {hi_y:.2f}</text></svg>')  # fmt: skip
    return Markup("".join(parts))
