"""The statements this process sends to its database while a block runs, as the
server receives them: on PostgreSQL every psycopg ``execute`` (SQLAlchemy's and those
``fetch_rows`` sends straight through the driver, which SQLAlchemy's events never
see), on SQLite every statement SQLAlchemy runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa


@contextmanager
def statements_sent(matching: Callable[[str], bool] = lambda _: True) -> Iterator[list[str]]:
    """The text of each statement sent while the block runs that ``matching`` keeps."""
    seen: list[str] = []
    lock = threading.Lock()

    def keep(statement: str) -> None:
        if matching(statement):
            with lock:
                seen.append(statement)

    execute = psycopg.Cursor.execute

    def sent(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        keep(str(query))
        return execute(cursor, query, *args, **kwargs)

    def heard(conn: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
        if conn.dialect.name == "sqlite":  # PostgreSQL's are kept as psycopg sends them
            keep(statement)

    psycopg.Cursor.execute = sent  # type: ignore[method-assign]
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", heard)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", heard)
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
