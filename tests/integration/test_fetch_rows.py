"""``fetch_rows`` (straight through psycopg on PostgreSQL) gives, as plain tuples, the
rows SQLAlchemy gives for the same statement: the same values of the same types, NULLs,
non-ASCII text, aware times and bound parameters included."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import sqlalchemy as sa

from infrastructure.database import fetch_rows, write_transaction
from infrastructure.tables import backtests

_PAGE = (
    sa.select(*backtests.c)
    .where(backtests.c.owner_id == sa.bindparam("owner"), backtests.c.deleted_position.is_(None))
    .order_by(backtests.c.created_at.desc())
    .limit(sa.bindparam("limit"))
)


def _row(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "backtest_id": f"b{n}", "owner_id": "o", "symbol": "BTC€", "interval": "1d",
        "strategy": "s %s 100%", "test_mode": "backtest", "market_type": "spot",
        "start_date": dt.date(2020, 1, 1), "end_date": dt.date(2020, 12, 31),
        "created_at": dt.datetime(2024, 1, 1, 12, n, 30, 123456, tzinfo=dt.UTC),
        "position": 2**40 + n, "deleted_position": None, "deleted_at": None,
        "total_return": 0.1 + n / 3, "cagr": None, "volatility": 1e-300, "sharpe": -2.5,
        "sortino": None, "max_drawdown": -0.25, "calmar": None, "num_trades": n,
        "win_rate": None, "profit_factor": 1.5, "list_item": '{"é":1}' if n else None,
        **changes,
    }  # fmt: skip


def test_fetch_rows_matches_sqlalchemy(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        conn.execute(backtests.insert(), [_row(n) for n in range(4)])
        conn.execute(backtests.insert(), [_row(9, owner_id="other"), _row(8, deleted_position=7)])
    params = {"owner": "o", "limit": 3}
    with engine.connect() as conn:
        want = conn.execute(_PAGE, params).all()
        got = fetch_rows(conn, _PAGE, params)
        again = fetch_rows(conn, _PAGE, params)  # the second time from the compiled cache
    assert [r.backtest_id for r in want] == ["b3", "b2", "b1"]
    assert got == [tuple(r) for r in want] == again
    for w, g in zip(want, got, strict=True):
        assert type(g) is tuple
        assert [type(v) for v in g] == [type(v) for v in w]


def test_a_connection_goes_back_to_the_pool_with_no_transaction_open(engine: sa.Engine) -> None:
    # fetch_rows on a connection SQLAlchemy never began (the CLI's list does this) makes
    # the driver open a transaction SQLAlchemy does not know of; the pool's rollback on
    # return is what closes it, which is why the engine keeps that rollback.
    with engine.connect() as conn:
        fetch_rows(conn, _PAGE, {"owner": "o", "limit": 3})
        driver = conn.connection.driver_connection
        assert _in_transaction(driver)  # what the pool has to clean up
    assert not _in_transaction(driver)


def _in_transaction(driver: Any) -> bool:
    if isinstance(driver, psycopg.Connection):
        return driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    return bool(driver.in_transaction)  # sqlite3
