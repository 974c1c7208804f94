"""Significance reports computed once: ``significance_reports``, one row per backtest
and hash of a report's inputs, so a page view after the first reads its report.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "significance_reports",
        sa.Column("backtest_id", sa.String(36), primary_key=True),
        sa.Column("inputs_hash", sa.String(64), primary_key=True),
        sa.Column("report", sa.LargeBinary, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("significance_reports")
