"""The one CSV writer, and the daily/monthly/trades exports' columns.

RFC 4180 (comma, CRLF, quotes doubled), one header row, ISO dates, UTC instants,
floats in their shortest round-trip form (``repr``), null as an empty cell, and text
that a spreadsheet would run as a formula prefixed with ``'`` (OWASP CSV injection).

The projector writes trades.csv once, when the backtest is recorded, into the stored
documents in compressed parts of about ``CHUNK_BYTES`` of text; a download
decompresses those parts in order and formats nothing, so it runs at the speed of
reading text (faster than PostgreSQL's own COPY of typed rows), on both stores, in
flat memory. daily.csv and monthly.csv are written as they are downloaded, from the
stored series, a part at a time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from infrastructure.database import as_utc

ExportKind = Literal["daily", "monthly", "trades"]
KINDS: tuple[ExportKind, ...] = ("daily", "monthly", "trades")
# The documented columns; daily.csv adds those of DAILY_EXTRA_COLUMNS that any day has.
COLUMNS: dict[ExportKind, tuple[str, ...]] = {
    "daily": ("date", "equity", "return", "drawdown"),
    "monthly": ("month", "return", "start_equity", "end_equity"),
    "trades": ("trade_no", "side", "entry_time", "exit_time", "entry_price", "exit_price",
               "quantity", "pnl", "return", "fees"),
}  # fmt: skip
DAILY_EXTRA_COLUMNS = ("cash", "position", "benchmark_return")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")
CHUNK_BYTES = 64 * 1024


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_FORMULA_STARTS = frozenset(FORMULA_PREFIXES)
_QUOTED = re.compile('[,"\r\n]')


def csv_text(text: str) -> str:
    """A text cell: neutralised if a spreadsheet would evaluate it, quoted if needed."""
    if text[:1] in _FORMULA_STARTS and not _is_number(text):
        text = "'" + text
    if _QUOTED.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _instant(value: dt.datetime) -> str:
    return as_utc(value).isoformat().replace("+00:00", "Z")


def csv_cell(value: Any) -> str:
    """One cell of the CSV contract."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return _instant(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return csv_text(str(value))


def csv_column(values: Sequence[Any]) -> list[str]:
    """Every cell of one column, by ``csv_cell``'s rules. A column of floats and nulls
    (most of what is exported) skips the per-value dispatch: same text, a fraction of
    the time."""
    kinds = {type(v) for v in values}
    kinds.discard(type(None))
    if kinds <= {float}:
        return ["" if v is None else repr(v) for v in values]
    if kinds == {str}:
        return ["" if v is None else csv_text(v) for v in values]
    if kinds == {int}:
        return ["" if v is None else str(v) for v in values]
    if kinds == {dt.datetime}:
        return ["" if v is None else _instant(v) for v in values]
    if kinds == {dt.date}:  # a daily CSV's first column
        return ["" if v is None else v.isoformat() for v in values]
    return [csv_cell(v) for v in values]


SLICE_ROWS = 2_000


def write_csv(header: Sequence[str], columns: Sequence[Sequence[Any]]) -> Iterator[str]:
    """The CSV text of a header and its columns' values, in parts of about
    ``CHUNK_BYTES`` that each end at a line end. The cells are rendered
    ``SLICE_ROWS`` rows at a time: a million rows' cells at once would be ten strings
    a row held together."""
    if len({len(values) for values in columns}) > 1:
        raise ValueError("the columns of a CSV differ in length")
    rows = len(columns[0]) if columns else 0
    slices = ([values[start : start + SLICE_ROWS] for values in columns]
              for start in range(0, rows, SLICE_ROWS))  # fmt: skip
    return write_slices(header, slices)


def write_slices(header: Sequence[str], slices: Iterable[Sequence[Sequence[Any]]]) -> Iterator[str]:
    """``write_csv`` of columns given a slice of rows at a time (each slice: its
    columns, in the header's order)."""

    def lines() -> Iterator[str]:
        for columns in slices:
            for start in range(0, len(columns[0]) if columns else 0, SLICE_ROWS):
                cells = [csv_column(values[start : start + SLICE_ROWS]) for values in columns]
                yield from map(",".join, zip(*cells, strict=True))

    return write_lines(header, lines())


def write_lines(header: Sequence[str], lines: Iterable[str]) -> Iterator[str]:
    """A header and lines whose cells ``csv_cell`` already rendered, as CSV text in
    parts of about ``CHUNK_BYTES`` that each end at a line end."""
    buffer = [",".join(csv_text(name) for name in header)]
    size = len(buffer[0]) + 2
    for line in lines:
        buffer.append(line)
        size += len(line) + 2
        if size >= CHUNK_BYTES:
            yield "\r\n".join(buffer) + "\r\n"
            buffer, size = [], 0
    if buffer:
        yield "\r\n".join(buffer) + "\r\n"
