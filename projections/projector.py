"""The one projector: applies a stored event to the read models on a connection.

The append calls it inside the append's transaction, and ``projections rebuild``
calls it for every event of the log: there is no second code path.
"""

from __future__ import annotations

import sqlalchemy as sa

from domain.events import BacktestDeleted, BacktestRecorded
from infrastructure.database import bulk_insert
from infrastructure.event_store import StoredEvent
from infrastructure.tables import (
    backtest_daily,
    backtest_details,
    backtest_monthly,
    backtest_trades,
    backtests,
)
from projections.backtest_rows import deleted_values, recorded_rows


def project(conn: sa.Connection, stored: StoredEvent) -> None:
    """Apply one event to every read model."""
    event = stored.event()
    if isinstance(event, BacktestRecorded):
        rows = recorded_rows(stored, event)
        conn.execute(backtests.insert(), [rows.summary])
        conn.execute(backtest_details.insert(), [rows.detail])
        for table, table_rows in (
            (backtest_daily, rows.daily),
            (backtest_monthly, rows.monthly),
            (backtest_trades, rows.trades),
        ):
            bulk_insert(conn, table, table_rows)
    elif isinstance(event, BacktestDeleted):
        conn.execute(
            backtests.update()
            .where(backtests.c.backtest_id == event.backtest_id)
            .values(**deleted_values(stored))
        )
