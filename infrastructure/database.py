"""The SQLAlchemy engine for PostgreSQL (psycopg 3) or the embedded SQLite file.

On SQLite we take over transaction control from the sqlite3 module so that writes
can start with ``BEGIN IMMEDIATE``: a write transaction then waits for the write lock
up front instead of failing when it upgrades a read lock mid-way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

WRITE = {"write_transaction": True}


def is_sqlite(engine: sa.Engine | sa.Connection) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str, connect_timeout: float = 5, **kwargs: Any) -> sa.Engine:
    """An engine for ``url``, with the SQLite file's folder created when needed.

    On PostgreSQL connecting gives up after ``connect_timeout`` s. Connections are
    not pinged before each use (a round trip per request): a connection found dead
    raises a disconnect error, and SQLAlchemy then discards the whole pool, so the
    service recovers by itself once the database is back.
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args = {"connect_timeout": max(1, round(connect_timeout))}
        connect_args.update(kwargs.pop("connect_args", {}))
        return sa.create_engine(
            url,
            pool_timeout=connect_timeout,
            connect_args=connect_args,
            **kwargs,
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_sqlite(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get("write_transaction", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction meant to write; committed on success."""
    with engine.connect() as conn:
        if is_sqlite(engine):  # the option only picks BEGIN IMMEDIATE; elsewhere it costs
            conn.execution_options(**WRITE)
        with conn.begin():
            yield conn


def as_utc(moment: dt.datetime) -> dt.datetime:
    """A stored time as an aware UTC instant (SQLite hands back naive UTC values)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the connection's transaction: COPY on PostgreSQL (an order
    of magnitude fewer round trips), an executemany INSERT elsewhere."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    names = list(rows[0])
    columns = ", ".join(f'"{name}"' for name in names)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])


def copy_out(conn: sa.Connection, statement: str, chunk_bytes: int = 64 * 1024) -> Iterator[bytes]:
    """Stream ``COPY (statement) TO STDOUT (FORMAT csv)`` from PostgreSQL in chunks of
    about ``chunk_bytes``, on the connection's transaction (rows arrive one message
    each; gathering them keeps the chunks worth sending)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY ({statement}) TO STDOUT (FORMAT csv)") as copy:
        buffer: list[bytes] = []
        size = 0
        for block in copy:
            buffer.append(bytes(block))
            size += len(block)
            if size >= chunk_bytes:
                yield b"".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield b"".join(buffer)
