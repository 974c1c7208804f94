"""Charts rendered on the server as SVG: no JavaScript, no external assets.

Each chart says how many points it drew (``data-points``), so a browser test can
check that every point of the series is on the page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from markupsafe import Markup

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f")
WIDTH, PAD = 960, 44


def _scale(values: Sequence[float], top: float, bottom: float) -> tuple[float, float]:
    low, high = min(values), max(values)
    if math.isclose(low, high):
        low, high = low - 1e-9 - abs(low) * 0.01, high + 1e-9 + abs(high) * 0.01
    return low, high


def _points(series: Sequence[float | None], low: float, high: float, height: int) -> list[str]:
    n = max(len(series) - 1, 1)
    span = high - low
    return [
        f"{PAD + i * (WIDTH - 2 * PAD) / n:.1f},{PAD / 2 + (high - v) / span * (height - PAD):.1f}"
        for i, v in enumerate(series)
        if v is not None and math.isfinite(v)
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
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{html.escape(title)}" data-points="{len(known)}" '
        f'preserveAspectRatio="none"><title>{html.escape(title)}</title>',
        _axis(low, high, height, fmt, dates),
    ]
    for index, values in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = _points(values, low, high, height)
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
