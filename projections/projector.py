"""The one projector: applies stored events to the read models on a connection.

The append calls ``project`` for each event inside the append's transaction, and
``projections rebuild`` feeds whole batches of the log through the same
``Projection``, which writes each table's rows of the batch in one COPY: there is
no second code path.
"""

from __future__ import annotations

import sqlalchemy as sa

from domain.events import BacktestDeleted, BacktestRecorded
from infrastructure.database import bulk_insert
from infrastructure.event_store import StoredEvent
from infrastructure.tables import LIVE, ReadModels
from projections.backtest_rows import BacktestRows, deleted_values, recorded_rows


class Projection:
    """Read-model rows of a batch of events, waiting to be written together."""

    def __init__(self, models: ReadModels = LIVE) -> None:
        self.models = models
        self.pending: dict[str, BacktestRows] = {}

    def add(self, conn: sa.Connection, stored: StoredEvent) -> None:
        event = stored.event()
        if isinstance(event, BacktestRecorded):
            self.pending[event.backtest_id] = recorded_rows(stored, event)
        elif isinstance(event, BacktestDeleted):
            waiting = self.pending.get(event.backtest_id)
            if waiting is not None:
                waiting.summary.update(deleted_values(stored))
                return
            summary = self.models.backtests
            conn.execute(
                summary.update()
                .where(summary.c.backtest_id == event.backtest_id)
                .values(**deleted_values(stored))
            )

    def flush(self, conn: sa.Connection) -> None:
        batch = list(self.pending.values())
        self.pending = {}
        if not batch:
            return
        # the summary rows first (tables() starts with them): a rebuild's lock on them
        # fences the whole projection
        grouped = [rows.per_table() for rows in batch]
        for index, table in enumerate(self.models.tables()):
            bulk_insert(conn, table, [row for tables in grouped for row in tables[index]])


def project(conn: sa.Connection, stored: StoredEvent, models: ReadModels = LIVE) -> None:
    """Apply one event to every read model (the live tables unless told otherwise)."""
    projection = Projection(models)
    projection.add(conn, stored)
    projection.flush(conn)
