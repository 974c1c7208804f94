"""The arrays a comparison computes its cut from (``series_reads.curve``) hold what
the row-by-row read gives: the same keys, equity and drawdowns (the domain's
``drawdowns``), day for day, for daily and intraday backtests with unknown equity,
before and after 1970, on both stores."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from infrastructure.database import read_connection
from projections.compare import _seconds
from projections.series_reads import curve, daily_columns, row_key
from tests.factories import backtest_document, make_user, record


def _intraday(start: dt.datetime) -> dict[str, Any]:
    doc = backtest_document(days=1, trades=0)
    rng = np.random.default_rng(7)
    equity = 1_000.0 * np.cumprod(1 + rng.normal(0, 0.01, 300))
    doc.update(interval="1m", periods_per_year=525_600, daily_results=[
        {"time": (start + dt.timedelta(seconds=61.5 * i)).isoformat(),
         "equity": None if i % 37 == 5 else float(e)} for i, e in enumerate(equity)])  # fmt: skip
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        backtest_document(days=400, start=dt.date(1969, 6, 1)),
        _intraday(dt.datetime(1969, 12, 31, 23, 0, 0, 250_000, tzinfo=dt.UTC)),
    ],
    ids=["daily", "intraday-across-1970"],
)
def test_the_curve_arrays_are_the_rows(engine: sa.Engine, doc: dict[str, Any]) -> None:
    backtest_id = record(engine, make_user(engine), doc).backtest_id
    with read_connection(engine) as conn:
        rows = [dict(zip(part, values, strict=True))
                for part in daily_columns(conn, backtest_id)
                for values in zip(*part.values(), strict=True)]  # fmt: skip
        key = row_key(rows[0])
        days = curve(conn, backtest_id)
    assert len(rows) == len(days.equity) > 100
    for i, row in enumerate(rows):
        assert days.key(i) == row[key]
        assert days.seconds[i] == _seconds(row[key])
        for name, value in (("equity", days.equity[i]), ("drawdown", days.drawdown[i])):
            expected = row[name]
            assert math.isnan(value) if expected is None else value == expected, (i, name)
