"""A sweep as one matrix of returns: the input of the analyses of a whole experiment
(``domain.overfitting``).

Columns are the experiment's live backtests that count as trials (not excluded), in
recorded order (position). Rows are their effective returns, as the metrics use them
(given, or derived from equity; through the last known equity: ``covered_rows``), on
the intersection of their row keys (dates, or times for intraday bars), with every row
where any variant's return is null dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa

from domain.series import covered_rows
from infrastructure.tables import backtest_details, backtests
from projections.series_reads import daily_columns, row_key

if TYPE_CHECKING:
    import pandas as pd

b = backtests.c


@dataclass(frozen=True)
class LeftOut:
    backtest_id: str
    reason: str


@dataclass(frozen=True)
class SweepMatrix:
    backtest_ids: list[str]  # the columns, in recorded order
    keys: list[dt.date]  # the rows: dates, or UTC times for intraday bars
    returns: np.ndarray  # len(keys) × len(backtest_ids), no NaN
    rows_dropped: int  # rows of the keys' intersection with a null return
    periods_per_year: int | None  # the first column's; see notes when they differ
    left_out: list[LeftOut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def trial_ids(conn: sa.Connection, experiment: str, owner_id: str | None) -> list[str]:
    """The experiment's live backtests that count as trials, in recorded order."""
    query = (
        sa.select(b.backtest_id)
        .where(
            b.experiment == experiment, b.deleted_position.is_(None), b.excluded_reason.is_(None)
        )
        .order_by(b.position)
    )
    if owner_id is not None:
        query = query.where(b.owner_id == owner_id)
    return list(conn.execute(query).scalars())


def returns_by_key(conn: sa.Connection, backtest_id: str) -> pd.Series:
    import pandas as pd  # a job's import, not the service's: 0.4 s of every start

    """A backtest's effective returns by row key, through its last known equity."""
    keys: list[dt.date] = []
    returns: list[float | None] = []
    equities: list[float | None] = []
    for part in daily_columns(conn, backtest_id):
        keys += part[row_key(part)]
        returns += part["return"]
        equities += part["equity"]
    covered = covered_rows(equities)
    values = np.array(returns[:covered], dtype=np.float64)
    return pd.Series(values, index=pd.Index(keys[:covered], dtype=object))


def sweep_matrix(
    conn: sa.Connection, experiment: str, owner_id: str | None, min_rows: int
) -> SweepMatrix:
    """The experiment's matrix; a variant with fewer than ``min_rows`` known returns is
    left out, naming why."""
    columns: dict[str, pd.Series] = {}
    left_out: list[LeftOut] = []
    for backtest_id in trial_ids(conn, experiment, owner_id):
        series = returns_by_key(conn, backtest_id)
        known = int(series.notna().sum())
        if known < min_rows:
            left_out.append(LeftOut(backtest_id, f"{known} known returns, fewer than {min_rows}"))
            continue
        columns[backtest_id] = series
    ids = list(columns)
    periods = _periods(conn, ids)
    notes = []
    if len(set(periods.values())) > 1:
        notes.append(f"the variants are annualised differently ({sorted(set(periods.values()))}):"
                     f" the first variant's {periods[ids[0]]} is used")  # fmt: skip
    if not ids:
        return SweepMatrix([], [], np.empty((0, 0)), 0, None, left_out, notes)
    import pandas as pd

    joined = pd.concat(columns.values(), axis=1, join="inner", keys=ids)
    complete = joined.notna().all(axis=1).to_numpy()
    matrix = joined.to_numpy(dtype=np.float64)[complete]
    return SweepMatrix(ids, list(joined.index[complete]), matrix, int((~complete).sum()),
                       periods[ids[0]], left_out, notes)  # fmt: skip


def _periods(conn: sa.Connection, ids: list[str]) -> dict[str, int]:
    d = backtest_details.c
    found = conn.execute(sa.select(d.backtest_id, d.periods_per_year).where(d.backtest_id.in_(ids)))
    return {backtest_id: int(periods) for backtest_id, periods in found}
