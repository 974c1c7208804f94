"""Request counts shared by every service node: ``rate_windows``, one row per scope,
identity and minute (unlogged on PostgreSQL: counts need no crash safety and no
replication).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("scope", sa.String(20), primary_key=True),
        sa.Column("identity", sa.String(200), primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
        prefixes=["UNLOGGED"] if op.get_context().dialect.name == "postgresql" else [],
    )


def downgrade() -> None:
    op.drop_table("rate_windows")
