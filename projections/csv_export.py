"""The one CSV writer, and the daily/monthly/trades exports it streams.

RFC 4180 (comma, CRLF, quotes doubled), one header row, ISO dates, UTC instants,
floats in their shortest round-trip form (``repr``), null as an empty cell, and text
that a spreadsheet would run as a formula prefixed with ``'`` (OWASP CSV injection).
Rows are read through a streaming cursor and written in chunks, so memory stays flat.

On PostgreSQL the rows come from ``COPY (SELECT …) TO STDOUT`` instead, at the
database's own speed, with the cells formatted in SQL to the same bytes: PostgreSQL's
shortest float output differs from ``repr`` only for integral values (``100`` vs
``100.0``) and for magnitudes in [1e15, 1e16) (it switches to an exponent one decade
earlier), times become ``…T…Z`` under a UTC session, and its LF line ends become CRLF
(no exported text cell can hold a line break).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import sqlalchemy as sa

from domain.errors import BacktestNotFound
from infrastructure.database import as_utc, copy_out
from infrastructure.tables import (
    backtest_daily,
    backtest_details,
    backtest_monthly,
    backtest_trades,
    backtests,
)

ExportKind = Literal["daily", "monthly", "trades"]
KINDS: tuple[ExportKind, ...] = ("daily", "monthly", "trades")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")
CHUNK_BYTES = 64 * 1024
_NEEDS_QUOTES = (",", '"', "\r", "\n")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_text(text: str) -> str:
    """A text cell: neutralised if a spreadsheet would evaluate it, quoted if needed."""
    if text.startswith(FORMULA_PREFIXES) and not _is_number(text):
        text = "'" + text
    if any(ch in text for ch in _NEEDS_QUOTES):
        return '"' + text.replace('"', '""') + '"'
    return text


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
        return as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return csv_text(str(value))


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """The CSV bytes of a header and rows, in chunks of about ``CHUNK_BYTES``."""
    buffer = [",".join(csv_text(name) for name in header) + "\r\n"]
    size = len(buffer[0])
    for row in rows:
        line = ",".join([csv_cell(value) for value in row]) + "\r\n"
        buffer.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()


def export_columns(conn: sa.Connection, backtest_id: str, kind: ExportKind) -> list[str]:
    """The header of an export (daily.csv adds cash/position/benchmark_return when given)."""
    if kind == "monthly":
        return ["month", "return", "start_equity", "end_equity"]
    if kind == "trades":
        return [c.name for c in backtest_trades.columns if c.name != "backtest_id"]
    extras = conn.execute(
        sa.select(backtest_details.c.daily_extra_columns).where(
            backtest_details.c.backtest_id == backtest_id
        )
    ).scalar_one()
    return ["date", "equity", "return", "drawdown", *filter(None, extras.split(","))]


TABLES: dict[ExportKind, sa.Table] = {
    "daily": backtest_daily,
    "monthly": backtest_monthly,
    "trades": backtest_trades,
}


def _export_query(backtest_id: str, kind: ExportKind, cells: list[Any]) -> sa.Select[Any]:
    """The rows of one export in their order (the table's key after backtest_id)."""
    table = TABLES[kind]
    order = [c for c in table.primary_key.columns if c.name != "backtest_id"]
    return sa.select(*cells).where(table.c.backtest_id == backtest_id).order_by(*order)


def ordered_rows(
    conn: sa.Connection, backtest_id: str, kind: ExportKind, columns: list[str]
) -> Iterator[Sequence[Any]]:
    query = _export_query(backtest_id, kind, [TABLES[kind].c[name] for name in columns])
    streaming = conn.execution_options(stream_results=True, yield_per=5000)
    yield from streaming.execute(query)


def check_exportable(conn: sa.Connection, backtest_id: str, owner_id: str | None) -> str:
    """The symbol of a live backtest the caller may export, or ``BacktestNotFound``."""
    query = sa.select(backtests.c.symbol).where(
        backtests.c.backtest_id == backtest_id, backtests.c.deleted_position.is_(None)
    )
    if owner_id is not None:
        query = query.where(backtests.c.owner_id == owner_id)
    symbol = conn.execute(query).scalar_one_or_none()
    if symbol is None:
        raise BacktestNotFound(backtest_id)
    return str(symbol)


def export_csv(
    engine: sa.Engine, backtest_id: str, kind: ExportKind, owner_id: str | None = None
) -> Iterator[bytes]:
    """Stream one export on a connection of its own, held only while it is read.

    Call ``check_exportable`` first when a missing backtest must be an error before
    any byte is sent; this generator checks again inside its own snapshot.
    """
    with engine.connect() as conn, conn.begin():
        check_exportable(conn, backtest_id, owner_id)
        columns = export_columns(conn, backtest_id, kind)
        if conn.dialect.name == "postgresql":
            yield from _copy_csv(conn, backtest_id, kind, columns)
        else:
            yield from write_csv(columns, ordered_rows(conn, backtest_id, kind, columns))


MARK = "\x01"
_MARKED = re.compile(rb"\x01([^\x01]*)\x01")


def _reformat_marked(chunk: bytes) -> bytes:
    return _MARKED.sub(lambda m: repr(float(m.group(1))).encode(), chunk)


def python_float_text(column: Any) -> Any:
    """SQL for ``repr(float(column))`` from PostgreSQL's shortest float8 output."""
    text = sa.cast(column, sa.Text)
    magnitude = sa.func.abs(column)
    e15, e16 = sa.literal(1e15, sa.Double), sa.literal(1e16, sa.Double)
    digits = sa.func.replace(sa.func.split_part(sa.func.ltrim(text, "-"), "e", 1), ".", "")
    sign = sa.case((column < 0, "-"), else_="")
    plain = sa.case(
        (sa.func.length(digits) <= 16, sign + sa.func.rpad(digits, 16, "0") + ".0"),
        else_=sign + sa.func.left(digits, 16) + "." + sa.func.substr(digits, 17),
    )
    integral = column == sa.func.trunc(column)
    usual = sa.case((integral, text + ".0"), else_=text)
    rare = sa.case(
        # PostgreSQL prints integral values from 2**53 up with 17 digits, not the
        # shortest ones: mark them for Python to reformat (values above 9e15).
        (sa.and_(integral, magnitude >= sa.literal(2.0**53, sa.Double)), MARK + text + MARK),
        (magnitude < e16, plain),
        else_=text,
    )
    # Nearly every value is below 1e15: one comparison, one trunc, one cast.
    return sa.case((magnitude < e15, usual), else_=rare)


def _pg_cell(column: sa.Column[Any]) -> Any:
    if isinstance(column.type, sa.Double):
        return python_float_text(column)
    if isinstance(column.type, sa.DateTime):
        iso = sa.func.replace(sa.cast(column, sa.Text), " ", "T")
        return sa.func.replace(iso, "+00", "Z")
    return column


def _copy_csv(
    conn: sa.Connection, backtest_id: str, kind: ExportKind, columns: list[str]
) -> Iterator[bytes]:
    cells = [_pg_cell(TABLES[kind].c[name]) for name in columns]
    query = _export_query(backtest_id, kind, cells)
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    conn.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
    conn.exec_driver_sql("SET LOCAL DateStyle = 'ISO, YMD'")
    conn.exec_driver_sql("SET LOCAL extra_float_digits = 1")
    yield (",".join(csv_text(name) for name in columns) + "\r\n").encode()
    # copy_out's chunks hold whole rows (PostgreSQL sends one row per message), so a
    # marked cell never straddles two chunks.
    for chunk in copy_out(conn, sql, chunk_bytes=256 * 1024):
        if b"\x01" in chunk:
            chunk = _reformat_marked(chunk)
        yield chunk.replace(b"\n", b"\r\n")
