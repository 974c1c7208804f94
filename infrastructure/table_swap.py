"""Swapping freshly built read-model tables in for the live ones, in one transaction.

Readers keep reading the old tables until the swap commits; then they see the new
ones whole. The caller holds the write lock on the live tables while it runs.
"""

from __future__ import annotations

import sqlalchemy as sa

from infrastructure.tables import ReadModels


def lock_for_swap(conn: sa.Connection, live: ReadModels) -> None:
    """Stop inline projections (they wait) while readers go on; SQLite's BEGIN
    IMMEDIATE already excludes other writers."""
    if conn.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in live.tables())
        conn.execute(sa.text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))


def drop_if_present(conn: sa.Connection, models: ReadModels) -> None:
    for table in models.tables():
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table.name}"'))


def create(conn: sa.Connection, models: ReadModels) -> None:
    for table in models.tables():
        table.create(conn)


def swap_in(conn: sa.Connection, fresh: ReadModels, live: ReadModels) -> None:
    """Replace each live table by its fresh copy, keeping the live names, primary-key
    constraint names and indexes."""
    postgres = conn.dialect.name == "postgresql"
    for new, old in zip(fresh.tables(), live.tables(), strict=True):
        conn.execute(sa.text(f'DROP TABLE "{old.name}"'))
        conn.execute(sa.text(f'ALTER TABLE "{new.name}" RENAME TO "{old.name}"'))
        if postgres:
            conn.execute(
                sa.text(
                    f'ALTER TABLE "{old.name}" RENAME CONSTRAINT "{new.name}_pkey" '
                    f'TO "{old.name}_pkey"'
                )
            )
        for index in old.indexes:
            index.create(conn)


def analyze(conn: sa.Connection, models: ReadModels) -> None:
    """Gather the planner's statistics of freshly loaded tables (``ANALYZE``, as
    PostgreSQL's "Populating a Database" asks after a bulk load): until autovacuum got
    to them, their queries were planned on guesses, and a page of the list sorted all
    of an owner's rows instead of reading the owner-and-time index in order."""
    for table in models.tables():
        conn.execute(sa.text(f'ANALYZE "{table.name}"'))
