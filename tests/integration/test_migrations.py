"""Alembic migrations build exactly the schema the code queries (both stores)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from infrastructure.migrate import current_revision, head_revision, upgrade
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
