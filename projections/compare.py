"""Two to eight backtests side by side: metrics, equity rebased to 1, drawdowns, and
monthly returns by column — at full resolution, streamed in flat memory, or with at
most ``points`` points a curve, each span's extremes kept (``domain.downsampling``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import msgspec
import numpy as np
import sqlalchemy as sa

from domain.downsampling import extreme_indices
from domain.errors import FieldError, InvalidBacktest
from domain.ids import canonical_id
from domain.provenance import Provenance, ProvenanceCheck, check_provenance
from domain.relative import held
from infrastructure.database import snapshot
from infrastructure.tables import backtest_details
from projections.queries import find_summary
from projections.series_reads import curve, daily_columns, monthly_columns, row_key
from projections.views import BacktestSummary

MIN_COMPARED, MAX_COMPARED = 2, 8
# A curve keeps, in each span, the lowest and highest rebased equity and drawdown.
KEPT_PER_SPAN = 4
MIN_POINTS, MAX_POINTS = KEPT_PER_SPAN, 100_000


class CurvePoint(msgspec.Struct, frozen=True, array_like=True):
    """[date (a UTC time for intraday bars), equity rebased to 1 at the first known
    equity, drawdown]"""

    date: dt.date
    rebased: float | None
    drawdown: float | None


class ComparedBacktest(msgspec.Struct, frozen=True):
    summary: BacktestSummary
    curve: list[CurvePoint]


class MonthRow(msgspec.Struct, frozen=True):
    """One calendar month: each backtest's return, in the order of ``backtests``."""

    month: str
    returns: list[float | None]


class Comparison(msgspec.Struct, frozen=True):
    backtests: list[ComparedBacktest]
    months: list[MonthRow]
    # Whether they ran on the same data and code, as far as their provenance tells.
    provenance: ProvenanceCheck


# What ``parse_ids`` takes, for the OpenAPI document: 2 to 8 non-empty ids.
COMPARED_IDS = r"^ *[^, ][^,]*(, *[^, ][^,]*){1,7}$"


def parse_ids(text: str) -> list[str]:
    parts = [part.strip(" ") for part in text.split(",")] if text.strip(" ") else []
    if "" in parts:
        raise InvalidBacktest([FieldError("/ids", "an empty id between commas")])
    ids = [canonical_id(part) for part in parts]
    if not MIN_COMPARED <= len(ids) <= MAX_COMPARED or len(set(ids)) != len(ids):
        raise InvalidBacktest(
            [FieldError("/ids", f"give {MIN_COMPARED} to {MAX_COMPARED} distinct backtest ids")]
        )
    return ids


def compare(engine: sa.Engine, ids: list[str], viewer: str | None, points: int) -> Comparison:
    """The comparison of backtests the viewer may read (any missing one is not found),
    from one snapshot, each curve cut to at most ``points`` points: the compared period
    (first to last date of any of them) in ``points // 4`` equal spans of days, and of
    each curve's days in a span, those of its lowest and highest rebased equity and
    drawdown. A curve that fits keeps every day with a known equity or drawdown."""
    buckets = max(1, points // KEPT_PER_SPAN)
    with snapshot(engine) as conn:
        summaries = [find_summary(conn, backtest_id, viewer) for backtest_id in ids]
        first, last = _period(summaries)
        compared = []
        for summary in summaries:
            days = curve(conn, summary.backtest_id)
            rebased, drawdown = _rebased(days.equity), days.drawdown
            keep = np.union1d(
                extreme_indices(rebased, buckets, days.seconds - first, last - first),
                extreme_indices(drawdown, buckets, days.seconds - first, last - first),
            )
            kept = [CurvePoint(days.key(int(i)), _known(rebased[i]), _known(drawdown[i]))
                    for i in keep]  # fmt: skip
            compared.append(ComparedBacktest(summary, kept))
        return Comparison(compared, _months(conn, ids), _provenance(conn, ids))


def benchmark_curve(
    engine: sa.Engine, backtest_id: str, viewer: str | None, points: int
) -> list[tuple[dt.date, float]] | None:
    """The benchmark of one backtest held from its first day, rebased to 1 (a day
    without a benchmark return holds its value), cut like ``compare``'s curves to at
    most ``points`` points; None when its days carry no benchmark."""
    with snapshot(engine) as conn:
        find_summary(conn, backtest_id, viewer)  # readable by the viewer, or not found
        days = curve(conn, backtest_id)
    if days.benchmark is None or not np.isfinite(days.benchmark).any():
        return None
    wealth = held(days.benchmark)
    first, last = int(days.seconds[0]), int(days.seconds[-1]) + _DAY
    keep = extreme_indices(wealth, max(1, points // KEPT_PER_SPAN), days.seconds - first,
                           last - first)  # fmt: skip
    return [(days.key(int(i)), float(wealth[i])) for i in keep]


def stream_comparison(engine: sa.Engine, ids: list[str], viewer: str | None) -> Iterator[bytes]:
    """The comparison at full resolution as JSON bytes, the same document ``Comparison``
    encodes to, read in batches from one snapshot. Its first chunk comes once every
    backtest is found: take it before sending a byte (it raises ``BacktestNotFound``)."""
    with snapshot(engine) as conn:
        summaries = [find_summary(conn, backtest_id, viewer) for backtest_id in ids]
        yield b'{"backtests":['
        for index, summary in enumerate(summaries):
            yield (b"," if index else b"") + b'{"summary":' + _encode(summary) + b',"curve":['
            base = _base(conn, summary.backtest_id)
            separator = b""
            for part in daily_columns(conn, summary.backtest_id):
                points = zip(part[row_key(part)], part["equity"], part["drawdown"], strict=True)
                batch = [CurvePoint(d, None if e is None or not base else e / base, dd)
                         for d, e, dd in points]  # fmt: skip
                if batch:
                    yield separator + _encode(batch)[1:-1]
                    separator = b","
            yield b"]}"
        yield b'],"months":' + _encode(_months(conn, ids))
        yield b',"provenance":' + _encode(_provenance(conn, ids)) + b"}"


_encode = msgspec.json.Encoder().encode


def _base(conn: sa.Connection, backtest_id: str) -> float | None:
    """The first known, non-zero equity: what the curve is rebased on."""
    for part in daily_columns(conn, backtest_id):
        for equity in part["equity"]:
            if equity:  # neither None nor 0
                return float(equity)
    return None


_DAY = 86_400
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()


def _seconds(key: dt.date) -> int:
    """A row's key in seconds since 1970 (a date at its UTC midnight): one axis for
    daily and intraday curves."""
    if isinstance(key, dt.datetime):
        return int(key.timestamp())
    return (key.toordinal() - _EPOCH_DAY) * _DAY


def on_one_axis(key: dt.date) -> dt.datetime:
    """A curve's key as a UTC time (a date at its midnight)."""
    if isinstance(key, dt.datetime):
        return key
    return dt.datetime(key.year, key.month, key.day, tzinfo=dt.UTC)


def _period(summaries: list[BacktestSummary]) -> tuple[int, int]:
    """The first second of any compared backtest's first day and the end of the last
    day of any (seconds since 1970)."""
    if not summaries:
        return 0, _DAY
    return (min(_seconds(s.start_date) for s in summaries),
            max(_seconds(s.end_date) for s in summaries) + _DAY)  # fmt: skip


def _rebased(equity: np.ndarray) -> np.ndarray:
    known = np.flatnonzero(np.isfinite(equity) & (equity != 0))
    return equity / equity[known[0]] if len(known) else np.full(len(equity), np.nan)


def _known(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _months(conn: sa.Connection, ids: list[str]) -> list[MonthRow]:
    by_month: dict[str, list[float | None]] = {}
    for index, backtest_id in enumerate(ids):
        for part in monthly_columns(conn, backtest_id):
            for month, value in zip(part["month"], part["return"], strict=True):
                by_month.setdefault(month, [None] * len(ids))[index] = value
    return [MonthRow(month, by_month[month]) for month in sorted(by_month)]


_decode_provenance = msgspec.json.Decoder(Provenance).decode


def _provenance(conn: sa.Connection, ids: list[str]) -> ProvenanceCheck:
    """``check_provenance`` of the backtests' recorded provenance, in ``ids`` order."""
    d = backtest_details.c
    stored = dict(
        conn.execute(sa.select(d.backtest_id, d.provenance).where(d.backtest_id.in_(ids))).all()
    )
    return check_provenance(
        [None if stored.get(i) is None else _decode_provenance(stored[i]) for i in ids]
    )
