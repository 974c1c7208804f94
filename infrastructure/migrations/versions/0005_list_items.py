"""Each backtest's list item moves from ``backtest_documents`` (kind ``summary``) into
its own row of the list model (``backtests.list_item``): a page of the list becomes one
index scan, with no join.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

backtests = sa.table(
    "backtests", sa.column("backtest_id", sa.String), sa.column("list_item", sa.Text)
)
documents = sa.table(
    "backtest_documents",
    sa.column("backtest_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("part_no", sa.Integer),
    sa.column("body", sa.Text),
)
SUMMARY = documents.c.kind == "summary"


def upgrade() -> None:
    op.add_column("backtests", sa.Column("list_item", sa.Text, nullable=True))
    stored = (
        sa.select(documents.c.body)
        .where(SUMMARY, documents.c.backtest_id == backtests.c.backtest_id)
        .scalar_subquery()
    )
    op.execute(backtests.update().values(list_item=stored))
    op.execute(documents.delete().where(SUMMARY))


def downgrade() -> None:
    op.execute(
        documents.insert().from_select(
            ["backtest_id", "kind", "part_no", "body"],
            sa.select(
                backtests.c.backtest_id,
                sa.literal("summary"),
                sa.literal(0),
                backtests.c.list_item,
            ).where(backtests.c.list_item.is_not(None)),
        )
    )
    with op.batch_alter_table("backtests") as batch:
        batch.drop_column("list_item")
