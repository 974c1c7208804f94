"""A backtest's provenance (which code, on which data, in which environment): searchable
in its summary (JSON, jsonb on PostgreSQL, as its parameters are) and as recorded in its
details.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

No event before this revision holds one (``BacktestRecorded`` version 5 added it), so
both start null, which is what a projection of those events gives.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    searchable = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.add_column("backtests", sa.Column("provenance", searchable, nullable=True))
    op.add_column("backtest_details", sa.Column("provenance", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backtest_details") as batch:
        batch.drop_column("provenance")
    with op.batch_alter_table("backtests") as batch:
        batch.drop_column("provenance")
