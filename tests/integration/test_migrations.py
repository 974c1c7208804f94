"""Alembic migrations build exactly the schema the code queries (both stores)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from infrastructure.database import create_engine
from infrastructure.migrate import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from infrastructure.tables import metadata


def _only_ours(obj: Any, name: str | None, type_: str, reflected: bool, _other: Any) -> bool:
    # tx_id and its index exist on PostgreSQL only and are read by raw SQL on purpose.
    return not (name in {"tx_id", "ix_events_feed"} or name == "alembic_version")


@pytest.mark.filterwarnings("ignore:Did not recognize type 'xid8'")
def test_the_migrated_schema_matches_the_tables_module(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": _only_ours, "compare_type": True}
        )
        assert compare_metadata(context, metadata) == []


def test_upgrading_twice_is_a_no_op(engine: sa.Engine) -> None:
    assert current_revision(engine) == head_revision()
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_the_head_revision_named_in_code_is_the_newest_migration_script() -> None:
    # A new migration must move HEAD_REVISION too, or no CLI command would apply it.
    assert head_revision() == HEAD_REVISION


def test_the_stored_revision_is_read_as_alembic_reads_it(database_url: str) -> None:
    from alembic import command

    engine = create_engine(database_url)
    try:
        assert current_revision(engine) is None  # a database never migrated
        assert upgrade(engine) is True
        assert current_revision(engine) == _alembic_reads(engine) == HEAD_REVISION
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0003")
        assert current_revision(engine) == _alembic_reads(engine) == "0003"
        assert upgrade(engine) is True  # behind the head: upgraded again
        assert current_revision(engine) == HEAD_REVISION
        assert upgrade(engine) is False
    finally:
        engine.dispose()


def _alembic_reads(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
