"""Applying the Alembic migrations to a database (``db upgrade`` and ``serve``)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from infrastructure.database import write_transaction

MIGRATIONS = Path(__file__).parent / "migrations"
_UPGRADE_LOCK = 7_312_025  # any constant: serialises concurrent upgrades on PostgreSQL


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine) -> bool:
    """Bring the schema to the newest revision; False (and a no-op) when it was there."""
    if current_revision(engine) == head_revision():
        return False
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_UPGRADE_LOCK)))
        command.upgrade(alembic_config(conn), "head")
    return True
