"""The one projector: applies a stored event to the read models on a connection.

The append calls it inside the append's transaction, and ``projections rebuild``
calls it for every event of the log: there is no second code path.
"""

from __future__ import annotations

import sqlalchemy as sa

from domain.events import BacktestDeleted, BacktestRecorded
from infrastructure.database import bulk_insert
from infrastructure.event_store import StoredEvent
from infrastructure.tables import LIVE, ReadModels
from projections.backtest_rows import deleted_values, recorded_rows


def project(conn: sa.Connection, stored: StoredEvent, models: ReadModels = LIVE) -> None:
    """Apply one event to every read model (the live tables unless told otherwise)."""
    event = stored.event()
    if isinstance(event, BacktestRecorded):
        rows = recorded_rows(stored, event)
        # the summary row first: a rebuild's lock on it fences the whole projection
        conn.execute(models.backtests.insert(), [rows.summary])
        conn.execute(models.details.insert(), [rows.detail])
        bulk_insert(conn, models.daily, rows.daily)
        bulk_insert(conn, models.monthly, rows.monthly)
        bulk_insert(conn, models.trades, rows.trades)
    elif isinstance(event, BacktestDeleted):
        summary = models.backtests
        conn.execute(
            summary.update()
            .where(summary.c.backtest_id == event.backtest_id)
            .values(**deleted_values(stored))
        )
