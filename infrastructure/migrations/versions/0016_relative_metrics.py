"""Figures relative to a benchmark: beta, alpha, information ratio and tracking error as
list-model metrics (sortable, searchable and indexed like the others), and the whole
relative block (correlation, capture ratios, the benchmark's own figures) in the
details.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

Every row starts null. ``fill_missing_documents``, run by every CLI command right
after this upgrade, projects each backtest whose details have no relative block again
from the log: its summary (the new metrics, its list item and sweep row included) and
its details. A backtest recorded without a ``benchmark_return`` gets null figures, as
a new one does. The downgrade drops the columns.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

RELATIVE_METRICS = ("beta", "alpha", "information_ratio", "tracking_error")
Money = sa.Double


def upgrade() -> None:
    for name in RELATIVE_METRICS:
        op.add_column("backtests", sa.Column(name, Money, nullable=True))
        op.create_index(
            f"ix_backtests_owner_{name}", "backtests", ["owner_id", name, "backtest_id"]
        )
    op.add_column("backtest_details", sa.Column("relative", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backtest_details") as batch:
        batch.drop_column("relative")
    for name in RELATIVE_METRICS:
        op.drop_index(f"ix_backtests_owner_{name}", "backtests")
    with op.batch_alter_table("backtests") as batch:
        for name in RELATIVE_METRICS:
            batch.drop_column(name)
