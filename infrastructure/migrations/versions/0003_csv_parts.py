"""The exports as stored CSV parts (``backtest_csv``), written by the projector.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

The table starts empty: ``fill_missing_csv`` (run by every CLI command right after
this upgrade) projects the parts of backtests recorded before it from the event log.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backtest_csv",
        sa.Column("backtest_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("part_no", sa.Integer, primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE backtest_csv ALTER COLUMN body SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("backtest_csv")
