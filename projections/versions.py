"""What a read's answer depends on, as a number that only grows: a backtest's stream
version (every event of the backtest: recorded, excluded, deleted) and an experiment's
newest record, deletion and exclusion. Conditional GETs derive
their ETags from these, and the detail cache its keys, so that neither can outlive a
change."""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa

from domain.errors import BacktestNotFound
from infrastructure.database import fetch_rows
from infrastructure.tables import backtests, events, users
from infrastructure.users import ACTIVE_KEY, USER_COLUMNS, User, user_of
from projections.queries import AsOf, visible, visible_now

b, e = backtests.c, events.c


def _stream_version(backtest_id: Any) -> sa.ScalarSelect[int]:
    latest = sa.select(sa.func.max(e.stream_version)).where(e.stream_id == backtest_id)
    return latest.scalar_subquery()


def _live_version(owned: bool) -> sa.Select[Any]:
    """The statement of a live backtest's symbol and version, built once per shape:
    every conditional read runs it, and building it cost more than running it."""
    query = sa.select(b.symbol, _stream_version(sa.bindparam("id"))).where(
        b.backtest_id == sa.bindparam("id"), visible_now()
    )
    return query.where(b.owner_id == sa.bindparam("owner")) if owned else query


_LIVE_VERSION = {owned: _live_version(owned) for owned in (False, True)}


class CallerAndVersion(NamedTuple):
    """The caller, and a live backtest's owner, symbol and stream version (None: no
    such live backtest)."""

    user: User
    owner_id: str | None
    symbol: str
    version: int | None

    def visible_version(self, backtest_id: str, owner_id: str | None) -> tuple[str, int]:
        """The symbol and version, as ``backtest_version`` gives them, if the backtest is
        one a reader of ``owner_id``'s backtests (None: anyone's) may see, else
        ``BacktestNotFound``."""
        if self.version is None or owner_id not in (None, self.owner_id):
            raise BacktestNotFound(backtest_id)
        return self.symbol, self.version


# A conditional read of one backtest looks its caller up and reads the version in one
# statement: one round trip where two made a 304 cost 1.4 times the trivial route.
_CALLER_AND_LIVE_VERSION = (
    sa.select(*USER_COLUMNS, b.owner_id, b.symbol, _stream_version(sa.bindparam("id")))
    .select_from(
        users.outerjoin(backtests, sa.and_(b.backtest_id == sa.bindparam("id"), visible_now()))
    )
    .where(ACTIVE_KEY)
)


def caller_and_live_version(
    conn: sa.Connection, key_hash: str, backtest_id: str
) -> CallerAndVersion | None:
    """The active user holding the key of this hash (None: nobody), with the backtest's
    owner and version if it is live."""
    rows = fetch_rows(conn, _CALLER_AND_LIVE_VERSION, {"key_hash": key_hash, "id": backtest_id})
    if not rows:
        return None
    *user, owner_id, symbol, version = rows[0]
    found = owner_id is not None
    return CallerAndVersion(user_of(user), owner_id, symbol or "",
                            int(version or 0) if found else None)  # fmt: skip


def backtest_version(conn: sa.Connection, backtest_id: str, owner_id: str | None,
                     as_of: AsOf | None = None) -> tuple[str, int]:  # fmt: skip
    """The symbol and stream version of a backtest live now (or at ``as_of``) that the
    caller may read (``owner_id=None``: any owner's), in one statement, or
    ``BacktestNotFound``."""
    if as_of is None:
        rows = fetch_rows(conn, _LIVE_VERSION[owner_id is not None],
                          {"id": backtest_id, "owner": owner_id})  # fmt: skip
        found = rows[0] if rows else None
    else:
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


def experiment_version(conn: sa.Connection, experiment: str, owner_id: str | None) -> str:
    """What changes with any event of the experiment's backtests (the owner's; None:
    anyone's), read from the list model in one aggregate over its rows: its newest
    record's position, its newest deletion's, and how many rows and exclusions it has
    (an exclusion is never undone)."""
    query = sa.select(
        sa.func.max(b.position), sa.func.max(b.deleted_position), sa.func.count(),
        sa.func.count(b.excluded_reason),
    ).where(b.experiment == experiment)  # fmt: skip
    if owner_id is not None:
        query = query.where(b.owner_id == owner_id)
    return ".".join(str(value or 0) for value in conn.execute(query).one())
