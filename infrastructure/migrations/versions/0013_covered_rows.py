"""Backtests whose final equity is null are projected again: every metric now covers
the rows through the last known equity (``domain.series.covered_rows``), where Sharpe,
Sortino and volatility took every known return before while total return, CAGR and
drawdown stopped at the last known equity.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

Only those backtests are touched: their details' warnings (which named the old rule) are
set null, so ``fill_missing_documents``, run by every CLI command right after this
upgrade, projects their summary, metrics included, and details again from the log;
their stored significance reports, computed on the old rows, are dropped (the next
request computes them). The downgrade leaves them as they are.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# 0012's projection says this in the warning of every backtest whose final equity is null
OLD_RULE = "%the final equity is null%"


def upgrade() -> None:
    details = sa.table(
        "backtest_details", sa.column("backtest_id", sa.String), sa.column("warnings", sa.Text)
    )
    reports = sa.table("significance_reports", sa.column("backtest_id", sa.String))
    affected = sa.select(details.c.backtest_id).where(details.c.warnings.like(OLD_RULE))
    op.execute(reports.delete().where(reports.c.backtest_id.in_(affected)))
    op.execute(details.update().where(details.c.warnings.like(OLD_RULE)).values(warnings=None))


def downgrade() -> None:
    pass
