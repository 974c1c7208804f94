"""What a read's answer depends on, as a number that only grows: a backtest's stream
version (every event of the backtest: recorded, excluded, deleted) and an experiment's
last position in the log (any event of any of its backtests). Conditional GETs derive
their ETags from these, and the detail cache its keys, so that neither can outlive a
change."""

from __future__ import annotations

import sqlalchemy as sa

from domain.errors import BacktestNotFound
from infrastructure.tables import backtests, events
from projections.queries import AsOf, visible

b, e = backtests.c, events.c


def _stream_version(backtest_id: str) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.max(e.stream_version)).where(e.stream_id == backtest_id).scalar_subquery()
    )


def backtest_version(conn: sa.Connection, backtest_id: str, owner_id: str | None,
                     as_of: AsOf | None = None) -> tuple[str, int]:  # fmt: skip
    """The symbol and stream version of a backtest live now (or at ``as_of``) that the
    caller may read (``owner_id=None``: any owner's), in one statement, or
    ``BacktestNotFound``."""
    query = sa.select(b.symbol, _stream_version(backtest_id)).where(
        b.backtest_id == backtest_id, visible(conn, as_of)
    )
    if owner_id is not None:
        query = query.where(b.owner_id == owner_id)
    found = conn.execute(query).first()
    if found is None:
        raise BacktestNotFound(backtest_id)
    return str(found[0]), int(found[1] or 0)


def stream_version(conn: sa.Connection, backtest_id: str) -> int:
    """The backtest's stream version, deleted or not (0: no such stream)."""
    return int(conn.execute(sa.select(_stream_version(backtest_id))).scalar() or 0)


def experiment_version(conn: sa.Connection, experiment: str, owner_id: str | None) -> int:
    """The position of the last event of any backtest of the experiment (the owner's;
    None: anyone's), deleted ones included."""
    query = (
        sa.select(sa.func.max(e.position))
        .select_from(events.join(backtests, e.stream_id == b.backtest_id))
        .where(b.experiment == experiment)
    )
    if owner_id is not None:
        query = query.where(b.owner_id == owner_id)
    return int(conn.execute(query).scalar() or 0)
