"""A backtest's bar size, warnings and figures in its peers' conventions in its
details, and the reason it was excluded from the trials
(``BacktestExcludedFromTrials``) in its summary.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

The details of backtests recorded before this revision get their bar size,
warnings and conventions from the event log by ``fill_missing_documents``, run by every CLI command
(``serve`` included) right after this upgrade, or by ``projections rebuild``. No
backtest was excluded before: the reason starts null.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("backtest_details", sa.Column("bar_size", sa.String(16), nullable=True))
    op.add_column("backtest_details", sa.Column("warnings", sa.Text, nullable=True))
    op.add_column("backtest_details", sa.Column("conventions", sa.Text, nullable=True))
    op.add_column("backtests", sa.Column("excluded_reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backtests") as batch:
        batch.drop_column("excluded_reason")
    with op.batch_alter_table("backtest_details") as batch:
        batch.drop_column("conventions")
        batch.drop_column("warnings")
        batch.drop_column("bar_size")
