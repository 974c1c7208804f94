"""The stored series: any column of values reads back as it was written (numbers bit
for bit, nulls as nulls, dates and instants to the microsecond), across parts, and a
ten-year equity curve costs a fraction of its JSON."""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import zlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from projections import series_parts
from projections.series_parts import decode_part, encode_parts

numbers = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))
instants = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
)


def _bits(values: list[float | None]) -> list[bytes | None]:
    """Each number's IEEE 754 bytes: -0.0 differs from 0.0 here, as it must."""
    return [None if v is None else struct.pack("<d", v) for v in values]


def _whole(kind: series_parts.SeriesKind, parts: list[bytes]) -> dict[str, list[object]]:
    decoded = [decode_part(kind, body) for body in parts]
    return {name: [v for part in decoded for v in part[name]] for name in decoded[0]}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.dates(), numbers, numbers), max_size=40), st.integers(1, 9))
def test_days_read_back_bit_for_bit_across_parts(
    rows: list[tuple[dt.date, float | None, float | None]], per_part: int
) -> None:
    original = series_parts.PART_ROWS
    series_parts.PART_ROWS = per_part
    try:
        columns = {"date": [r[0] for r in rows], "equity": [r[1] for r in rows],
                   "cash": [r[2] for r in rows]}  # fmt: skip
        parts = list(encode_parts("daily", columns))
    finally:
        series_parts.PART_ROWS = original
    assert len(parts) == max(1, math.ceil(len(rows) / per_part))
    back = _whole("daily", parts)
    assert back["date"] == columns["date"]
    assert _bits(back["equity"]) == _bits(columns["equity"])  # type: ignore[arg-type]
    assert _bits(back["cash"]) == _bits(columns["cash"])  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(instants, instants, st.sampled_from(["long", "short"]), numbers),
                max_size=30))  # fmt: skip
def test_trades_read_back_to_the_microsecond(
    rows: list[tuple[dt.datetime, dt.datetime, str, float | None]],
) -> None:
    columns = {"entry_time": [r[0] for r in rows], "exit_time": [r[1] for r in rows],
               "side": [r[2] for r in rows], "fees": [r[3] for r in rows]}  # fmt: skip
    back = _whole("trades", list(encode_parts("trades", columns)))
    assert back["entry_time"] == columns["entry_time"]
    assert back["exit_time"] == columns["exit_time"]
    assert all(t.tzinfo is dt.UTC for t in back["entry_time"])
    assert back["side"] == columns["side"]
    assert _bits(back["fees"]) == _bits(columns["fees"])  # type: ignore[arg-type]


def test_months_read_back_as_their_names() -> None:
    months = ["0001-01", "1999-12", "2000-01", "2024-02", "9999-12"]
    back = _whole("monthly", list(encode_parts("monthly", {"month": months})))
    assert back["month"] == months


def test_a_ten_year_equity_curve_costs_a_fraction_of_its_json() -> None:
    """2,520 days of a random walk: the JSON of the days (what an event holds) against
    the stored part, and against zlib on that JSON (what a compressed copy would be)."""
    rng = np.random.default_rng(1)
    equity = (10_000 * np.cumprod(1 + rng.normal(0.0005, 0.01, 2520))).tolist()
    dates = [dt.date(2015, 1, 1) + dt.timedelta(days=i) for i in range(2520)]
    text = json.dumps(
        [{"date": d.isoformat(), "equity": e} for d, e in zip(dates, equity, strict=True)]
    )
    (part,) = encode_parts("daily", {"date": dates, "equity": equity})
    assert len(part) < 2520 * 7  # under 7 bytes a day, of 8 in a float64
    assert len(part) < len(zlib.compress(text.encode(), 9)) / 2
