"""The one projector: applies stored events to the read models on a connection.

The append calls ``project`` for each event inside the append's transaction, and
``projections rebuild`` feeds whole batches of the log through the same
``Projection``, which writes each table's rows of the batch in one COPY: there is
no second code path.
"""

from __future__ import annotations

import itertools

import sqlalchemy as sa

from domain.events import BacktestRecorded, Event
from infrastructure.database import bulk_insert
from infrastructure.event_store import StoredEvent
from infrastructure.tables import LIVE, ReadModels
from projections.backtest_rows import BacktestRows, later_values, recorded_rows


class Projection:
    """Read-model rows of a batch of events, waiting to be written together."""

    def __init__(self, models: ReadModels = LIVE) -> None:
        self.models = models
        self.pending: dict[str, BacktestRows] = {}

    def add(self, conn: sa.Connection, stored: StoredEvent, event: Event | None = None) -> None:
        """Project ``stored``; ``event`` is what it decodes to, when the caller has it
        (the append does: decoding a million days again would hold them twice)."""
        if event is None:
            event = stored.event()
        if isinstance(event, BacktestRecorded):
            self.pending[event.backtest_id] = recorded_rows(stored, event)
        else:
            waiting = self.pending.get(event.backtest_id)
            if waiting is not None:
                waiting.summary.update(later_values(stored, event))
                return
            summary = self.models.backtests
            conn.execute(
                summary.update()
                .where(summary.c.backtest_id == event.backtest_id)
                .values(**later_values(stored, event))
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
            names = grouped[0][index].names
            # every backtest's rows of a table have the same columns (recorded_rows)
            rows = itertools.chain.from_iterable(tables[index].tuples() for tables in grouped)
            bulk_insert(conn, table, names, rows)


def project(
    conn: sa.Connection, stored: StoredEvent, event: Event, models: ReadModels = LIVE
) -> None:
    """Apply one event (``stored``, decoded as ``event``) to every read model (the live
    tables unless told otherwise)."""
    projection = Projection(models)
    projection.add(conn, stored, event)
    projection.flush(conn)
