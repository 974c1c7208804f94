"""Two to eight backtests side by side: metrics, equity rebased to 1, drawdowns, and
monthly returns by column."""

from __future__ import annotations

import datetime as dt

import msgspec
import sqlalchemy as sa

from domain.errors import FieldError, InvalidBacktest
from infrastructure.tables import backtest_daily, backtest_monthly
from projections.queries import find_summary
from projections.views import BacktestSummary

MIN_COMPARED, MAX_COMPARED = 2, 8


class CurvePoint(msgspec.Struct, frozen=True, array_like=True):
    """[date, equity rebased to 1 at the first known equity, drawdown]"""

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


def parse_ids(text: str) -> list[str]:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not MIN_COMPARED <= len(ids) <= MAX_COMPARED or len(set(ids)) != len(ids):
        raise InvalidBacktest(
            [FieldError("/ids", f"give {MIN_COMPARED} to {MAX_COMPARED} distinct backtest ids")]
        )
    return ids


def compare(conn: sa.Connection, ids: list[str], viewer: str | None) -> Comparison:
    """The comparison of backtests the viewer may read (any missing one is not found)."""
    compared = []
    by_month: dict[str, list[float | None]] = {}
    for index, backtest_id in enumerate(ids):
        summary = find_summary(conn, backtest_id, viewer)
        days = conn.execute(
            sa.select(backtest_daily.c.date, backtest_daily.c.equity, backtest_daily.c.drawdown)
            .where(backtest_daily.c.backtest_id == backtest_id)
            .order_by(backtest_daily.c.day_no)
        ).all()
        base = next((e for _, e, _ in days if e), None)
        curve = [
            CurvePoint(d, None if e is None or not base else e / base, dd) for d, e, dd in days
        ]
        compared.append(ComparedBacktest(summary, curve))
        months = conn.execute(
            sa.select(backtest_monthly.c.month, backtest_monthly.c["return"])
            .where(backtest_monthly.c.backtest_id == backtest_id)
            .order_by(backtest_monthly.c.month_no)
        ).all()
        for month, value in months:
            by_month.setdefault(month, [None] * len(ids))[index] = value
    rows = [MonthRow(month, by_month[month]) for month in sorted(by_month)]
    return Comparison(compared, rows)
