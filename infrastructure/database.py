"""The SQLAlchemy engine for PostgreSQL (psycopg 3) or the embedded SQLite file.

On SQLite we take over transaction control from the sqlite3 module so that writes
can start with ``BEGIN IMMEDIATE``: a write transaction then waits for the write lock
up front instead of failing when it upgrades a read lock mid-way.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql

WRITE = {"write_transaction": True}


def is_sqlite(engine: sa.Engine | sa.Connection) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(
    url: str, connect_timeout: float = 5, busy_timeout_s: float = 30, **kwargs: Any
) -> sa.Engine:
    """An engine for ``url``, with the SQLite file's folder created when needed; on
    SQLite a write waits up to ``busy_timeout_s`` for another's lock.

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
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s}, **kwargs)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def is_lock_wait(exc: BaseException) -> bool:
    """Whether a database error is a wait for another transaction's lock given up
    (SQLite's busy timeout; PostgreSQL's lock_timeout), not an outage."""
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.OperationalError):
        return "locked" in str(orig)
    return getattr(orig, "sqlstate", None) == "55P03"  # lock_not_available


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
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


@contextmanager
def read_connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection for a request's reads. On PostgreSQL it runs in autocommit: under
    READ COMMITTED every statement takes its own snapshot anyway, so the BEGIN and the
    ROLLBACK around a read bought nothing but two round trips."""
    with engine.connect() as conn:
        if not is_sqlite(engine):
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


@contextmanager
def snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection whose statements all read one snapshot of the database (REPEATABLE
    READ on PostgreSQL, a read transaction on SQLite in WAL mode), for a read made of
    several queries that must agree, such as a streamed export (server-side cursors
    need the transaction too)."""
    with engine.connect() as conn:
        if not is_sqlite(engine):
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def fetch_rows(
    conn: sa.Connection, statement: sa.Select[Any], params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Every row of a statement built once (at module level or cached by shape), as
    plain tuples in the statement's column order.

    On PostgreSQL straight through psycopg, with the SQL SQLAlchemy compiled for it
    once: for a page of the list SQLAlchemy's per-execution and per-row work (the
    statement's cache key, result metadata, Row objects) cost more client CPU than the
    query itself (≈120 µs of ≈280 µs), and named tuples still a sixth of the rest.
    Only for columns psycopg returns exactly as SQLAlchemy would (text, numbers, dates
    and times; nothing with a result processor).
    """
    if conn.dialect.name != "postgresql":
        return [tuple(row) for row in conn.execute(statement, params)]
    compiled = _compiled(statement, conn.dialect)
    bound = compiled.construct_params(params)
    with driver_errors(conn, compiled.string, bound):
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        rows: list[tuple[Any, ...]] = cursor.execute(compiled.string, bound).fetchall()
    return rows


@contextmanager
def driver_errors(conn: sa.Connection, statement: str, params: Any) -> Iterator[None]:
    """Around psycopg called directly on ``conn``'s connection: its errors raised as
    SQLAlchemy raises them (``sa.exc.IntegrityError``, ``sa.exc.OperationalError``, ...,
    with the driver's error as ``orig``), and a lost connection handled as SQLAlchemy
    handles it: this connection invalidated and the pool's others discarded, so that a
    request meets a dead server with a 503 and the service recovers once it is back."""
    # The dialect's DB-API module (psycopg), as SQLAlchemy itself catches it: looked up
    # only when an error is raised, and never imported by a command on SQLite.
    try:
        yield
    except conn.dialect.loaded_dbapi.Error as exc:
        dbapi_connection = conn.connection.dbapi_connection
        disconnected = conn.dialect.is_disconnect(exc, dbapi_connection, None)
        if disconnected:
            conn.invalidate(exc)
            conn.engine.dispose()
        raise sa.exc.DBAPIError.instance(
            statement,
            params,
            exc,
            conn.dialect.loaded_dbapi.Error,
            connection_invalidated=disconnected,
            dialect=conn.dialect,
        ) from exc


@functools.lru_cache(maxsize=256)
def _compiled(statement: sa.Select[Any], dialect: sa.Dialect) -> sa.Compiled:
    return statement.compile(dialect=dialect)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """A stored time as an aware UTC instant (SQLite hands back naive UTC values)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


SQLITE_BATCH_ROWS = 10_000


def bulk_insert(
    conn: sa.Connection, table: sa.Table, names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert many rows (values in the order of ``names``) in the connection's
    transaction, taking them from ``rows`` as they come: a binary COPY on PostgreSQL
    (an order of magnitude fewer round trips than INSERTs, and neither side turns a
    float into text and back), executemany INSERTs of ``SQLITE_BATCH_ROWS`` elsewhere.
    Either way only a batch of rows is ever held, so a generator of a million rows is
    inserted in the memory of a few thousand."""
    if conn.dialect.name != "postgresql":
        insert, pending = table.insert(), iter(rows)
        while batch := list(itertools.islice(pending, SQLITE_BATCH_ROWS)):
            conn.execute(insert, [dict(zip(names, row, strict=True)) for row in batch])
        return
    columns = ", ".join(f'"{name}"' for name in names)
    types = _binary_types(table, tuple(names))
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN (FORMAT BINARY)'
    with driver_errors(conn, statement, None):
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]
_BINARY_TYPES = {
    "BIGINT": "int8",
    "BOOLEAN": "bool",
    "BYTEA": "bytea",
    "DATE": "date",
    "DOUBLE PRECISION": "float8",
    "INTEGER": "int4",
    "JSONB": "jsonb",
    "TEXT": "text",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


@functools.cache
def _binary_types(table: sa.Table, names: tuple[str, ...]) -> list[str]:
    """The PostgreSQL types a binary COPY sends these columns' values as (a VARCHAR
    goes as text: the two share their binary form)."""
    compiled = [str(table.c[name].type.compile(dialect=_POSTGRESQL)) for name in names]
    return ["text" if name.startswith("VARCHAR") else _BINARY_TYPES[name] for name in compiled]
