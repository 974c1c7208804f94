"""A ten-year backtest's read models take less room than its event (issue 21): the
stored series and trades.csv, on either store, against the event's own bytes (on
PostgreSQL as TOAST keeps them, compressed). Bytes, not time: the same on any machine.
``bench/storage.py`` measures whole tables, indexes included."""

from __future__ import annotations

import sqlalchemy as sa

from infrastructure.tables import LIVE, events
from tests.factories import backtest_document, make_user, record


def test_the_stored_parts_of_a_ten_year_backtest_are_smaller_than_its_event(
    engine: sa.Engine,
) -> None:
    alice = make_user(engine)
    backtest_id = record(engine, alice, backtest_document(2520, trades=100, seed=1)).backtest_id
    size = sa.func.pg_column_size if engine.dialect.name == "postgresql" else sa.func.length
    with engine.connect() as conn:
        event = conn.execute(
            sa.select(size(events.c.data)).where(events.c.stream_id == backtest_id)
        ).scalar_one()
        stored = sum(
            conn.execute(
                sa.select(sa.func.sum(sa.func.length(table.c.body))).where(
                    table.c.backtest_id == backtest_id
                )
            ).scalar_one()
            for table in (LIVE.series, LIVE.documents)
        )
        raw = conn.execute(
            sa.select(sa.func.length(events.c.data)).where(events.c.stream_id == backtest_id)
        ).scalar_one()
    assert raw > 140_000  # 2,520 days and 100 trades as JSON
    assert stored < event / 2  # the days' equity and dates, the trades twice (typed, CSV)
