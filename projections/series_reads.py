"""Reading a backtest's stored series (``backtest_series``) back, a part at a time:
its days, with the returns and drawdowns derived from equity as they are read (by
the domain's ``RunningSeries``, the functions the projector's metrics use), its months
and its trades, as columns or as the row mappings the views are made from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from domain.results import DailyResult, MonthlyResult, Trade
from domain.series import RunningSeries
from infrastructure.tables import backtest_details, backtest_series
from projections import series_parts
from projections.csv_export import DAILY_EXTRA_COLUMNS
from projections.series_parts import SeriesKind, decode_part, decode_part_arrays

Columns = dict[str, list[Any]]


class MissingDocument(RuntimeError):
    """A live backtest without one of its stored series or documents: the read models
    are incomplete (``projections rebuild`` makes them again from the log)."""

    def __init__(self, backtest_id: str, kind: str) -> None:
        super().__init__(
            f"no stored {kind} document for backtest {backtest_id}: run projections rebuild"
        )


def parts(
    conn: sa.Connection, backtest_id: str, kind: SeriesKind, first: int = 0, last: int | None = None
) -> Iterator[Columns]:
    """The stored parts ``first`` to ``last`` (all: ``None``) of one kind, decoded one
    at a time as they are used, in order; ``MissingDocument`` if the backtest has none.
    One query, no cursor to hold, on any connection: the compressed parts are small
    (a million days ≈8 MB)."""
    for body in _bodies(conn, backtest_id, kind, first, last):
        yield decode_part(kind, body)


def _bodies(
    conn: sa.Connection, backtest_id: str, kind: SeriesKind, first: int = 0, last: int | None = None
) -> list[bytes]:
    s = backtest_series.c
    query = sa.select(s.body).where(
        s.backtest_id == backtest_id, s.kind == kind, s.part_no >= first
    )
    if last is not None:
        query = query.where(s.part_no <= last)
    bodies = conn.execute(query.order_by(s.part_no)).scalars().all()
    if not bodies and first == 0:  # every kind has at least one part
        raise MissingDocument(backtest_id, kind)
    return list(bodies)


@dataclass(frozen=True)
class Curve:
    """A backtest's days as arrays, for a read that computes over all of them and shows
    a few (``key`` turns one into its date or time): each day's key in seconds since
    1970 (a date at its UTC midnight), its equity and its drawdown (NaN for null)."""

    seconds: np.ndarray
    equity: np.ndarray
    drawdown: np.ndarray
    days: np.ndarray | None  # day ordinals, when keyed by date
    micros: np.ndarray | None  # microseconds since 1970, when keyed by time
    # each day's benchmark_return (NaN for null); None when no day has one
    benchmark: np.ndarray | None = None

    def key(self, index: int) -> dt.date:
        if self.days is not None:
            return dt.date.fromordinal(int(self.days[index]))
        assert self.micros is not None
        return _EPOCH + dt.timedelta(microseconds=int(self.micros[index]))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_ORDINAL = _EPOCH.date().toordinal()


def curve(conn: sa.Connection, backtest_id: str) -> Curve:
    """The ``Curve`` of a backtest's days, read from its stored parts without a Python
    value per day (a million days: tens of milliseconds, not seconds)."""
    decoded = [decode_part_arrays("daily", body) for body in _bodies(conn, backtest_id, "daily")]
    by_time = any("time" in part for part in decoded)
    key = np.concatenate([part["time" if by_time else "date"] for part in decoded])
    equity = np.concatenate([part["equity"] for part in decoded])
    # whole seconds toward zero for times, as int(datetime.timestamp()) gives them
    seconds = (np.sign(key) * (np.abs(key) // 1_000_000) if by_time
               else (key - _EPOCH_ORDINAL) * 86_400)  # fmt: skip
    drawdown = RunningSeries(None).drawdown_array(equity)
    benchmark = None
    if any("benchmark_return" in part for part in decoded):
        benchmark = np.concatenate([part.get("benchmark_return", np.full(len(part["equity"]),
                                                                         np.nan))
                                    for part in decoded])  # fmt: skip
    return Curve(seconds, equity, drawdown, None if by_time else key, key if by_time else None,
                 benchmark)  # fmt: skip


def row_count(conn: sa.Connection, backtest_id: str, kind: SeriesKind) -> int:
    """How many rows of one kind a backtest holds, from the number of its parts and
    its last part alone."""
    s = backtest_series.c
    last = conn.execute(
        sa.select(sa.func.max(s.part_no)).where(s.backtest_id == backtest_id, s.kind == kind)
    ).scalar()
    if last is None:
        raise MissingDocument(backtest_id, kind)
    [tail] = parts(conn, backtest_id, kind, last, last)
    return int(last) * series_parts.PART_ROWS + len(next(iter(tail.values())))


def details_row(conn: sa.Connection, backtest_id: str) -> sa.RowMapping:
    """A backtest's ``backtest_details`` row."""
    query = sa.select(backtest_details).where(backtest_details.c.backtest_id == backtest_id)
    return conn.execute(query).mappings().one()


def daily_columns(
    conn: sa.Connection, backtest_id: str, initial_capital: float | None = None
) -> Iterator[Columns]:
    """Each part of a backtest's days with every daily column: date (or time: see
    ``row_key``), equity, return
    (the given ones, or derived from equity and ``initial_capital``, read from its
    details when not given), drawdown, cash, position and benchmark_return (``None``
    where not given)."""
    if initial_capital is None:
        initial_capital = float(details_row(conn, backtest_id)["initial_capital"])
    running = RunningSeries(initial_capital)
    for part in parts(conn, backtest_id, "daily"):
        equity = part["equity"]
        if "return" not in part:
            part["return"] = running.returns(equity)
        part["drawdown"] = running.drawdowns(equity)
        for name in DAILY_EXTRA_COLUMNS:
            part.setdefault(name, [None] * len(equity))
        yield part


def monthly_columns(conn: sa.Connection, backtest_id: str) -> Iterator[Columns]:
    for part in parts(conn, backtest_id, "monthly"):
        rows = len(part["month"])
        for name in ("start_equity", "end_equity"):
            part.setdefault(name, [None] * rows)
        yield part


def trade_columns(
    conn: sa.Connection, backtest_id: str, first: int = 0, last: int | None = None
) -> Iterator[Columns]:
    """Parts ``first`` to ``last`` of a backtest's trades, numbered (``trade_no`` from 1)."""
    number = first * series_parts.PART_ROWS + 1
    for part in parts(conn, backtest_id, "trades", first, last):
        rows = len(part["side"])
        part["trade_no"] = list(range(number, number + rows))
        number += rows
        yield part


def daily_results(
    conn: sa.Connection, backtest_id: str, initial_capital: float
) -> Iterator[DailyResult]:
    """A backtest's days as values, made as the parts are read."""
    for p in daily_columns(conn, backtest_id, initial_capital):
        keyed = _BY_TIME if row_key(p) == "time" else _BY_DATE
        yield from map(keyed, p[row_key(p)], p["equity"], p["return"], p["cash"],
                       p["position"], p["benchmark_return"])  # fmt: skip


def row_key(part: Mapping[str, Any]) -> str:
    """What a part of days is keyed by: ``"date"``, or ``"time"`` for intraday bars."""
    return "time" if "time" in part else "date"


def _BY_DATE(key: Any, *values: Any) -> DailyResult:
    return DailyResult(date=key, equity=values[0], return_=values[1], cash=values[2],
                       position=values[3], benchmark_return=values[4])  # fmt: skip


def _BY_TIME(key: Any, *values: Any) -> DailyResult:
    return DailyResult(time=key, equity=values[0], return_=values[1], cash=values[2],
                       position=values[3], benchmark_return=values[4])  # fmt: skip


def monthly_results(conn: sa.Connection, backtest_id: str) -> Iterator[MonthlyResult]:
    for p in monthly_columns(conn, backtest_id):
        yield from map(MonthlyResult, p["month"], p["return"], p["start_equity"], p["end_equity"])


# Trade's fields in their order (its positional arguments).
TRADE_ORDER = ("entry_time", "exit_time", "side", "entry_price", "exit_price", "quantity", "pnl",
               "return", "fees")  # fmt: skip


def trades(conn: sa.Connection, backtest_id: str) -> Iterator[Trade]:
    for p in trade_columns(conn, backtest_id):
        yield from map(Trade, *(p[name] for name in TRADE_ORDER))


def rows_of(columns: Iterable[Mapping[str, list[Any]]]) -> Iterator[dict[str, Any]]:
    """The rows of parts given as columns, as mappings."""
    for part in columns:
        names = tuple(part)
        for values in zip(*part.values(), strict=True):
            yield dict(zip(names, values, strict=True))


def trade_slice(conn: sa.Connection, backtest_id: str, offset: int, count: int) -> list[Any]:
    """Trades ``offset`` to ``offset + count`` (from 0) as rows, reading only the parts
    that hold them."""
    if count <= 0:
        return []
    per_part = series_parts.PART_ROWS
    first, last = offset // per_part, (offset + count - 1) // per_part
    rows = list(rows_of(trade_columns(conn, backtest_id, first, last)))
    start = offset - first * per_part
    return rows[start : start + count]
