"""The stored CSV parts become the stored documents (``backtest_documents``): the
same table, which now also holds each backtest's list item and detail as JSON.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

The JSON documents of backtests recorded before this revision are projected from
the event log by ``fill_missing_documents``, run by every CLI command right after
this upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("backtest_csv", "backtest_documents")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE backtest_documents "
            "RENAME CONSTRAINT backtest_csv_pkey TO backtest_documents_pkey"
        )


def downgrade() -> None:
    documents = sa.table("backtest_documents", sa.column("kind", sa.String))
    op.execute(documents.delete().where(documents.c.kind.in_(["summary", "detail"])))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE backtest_documents "
            "RENAME CONSTRAINT backtest_documents_pkey TO backtest_csv_pkey"
        )
    op.rename_table("backtest_documents", "backtest_csv")
