"""A backtest's days, months and trades become compressed column parts
(``backtest_series``) instead of a row each (``backtest_daily``, ``backtest_monthly``,
``backtest_trades``), and the stored documents shrink to trades.csv, zlib-compressed:
the detail, daily.csv and monthly.csv are rendered from the parts as they are read.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

The dropped tables are read models: the parts of backtests recorded before this
revision are projected from the event log by ``fill_missing_documents``, run by every
CLI command (``serve`` included) right after this upgrade, or by ``projections
rebuild``. The downgrade recreates the old tables empty; a rebuild at that version
fills them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Money = sa.Double


def _parts(name: str) -> None:
    op.create_table(
        name,
        sa.Column("backtest_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("part_no", sa.Integer, primary_key=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":  # compressed already
        op.execute(f"ALTER TABLE {name} ALTER COLUMN body SET STORAGE EXTERNAL")


def upgrade() -> None:
    for table in ("backtest_daily", "backtest_monthly", "backtest_trades", "backtest_documents"):
        op.drop_table(table)
    _parts("backtest_series")
    _parts("backtest_documents")


def downgrade() -> None:
    op.drop_table("backtest_series")
    op.drop_table("backtest_documents")
    op.create_table(
        "backtest_documents",
        sa.Column("backtest_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("part_no", sa.Integer, primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "backtest_daily",
        sa.Column("backtest_id", sa.String(36), primary_key=True),
        sa.Column("day_no", sa.Integer, primary_key=True),
        sa.Column("date", sa.Date, nullable=False),
        *(sa.Column(name, Money) for name in
          ("equity", "return", "drawdown", "cash", "position", "benchmark_return")),
    )  # fmt: skip
    op.create_table(
        "backtest_monthly",
        sa.Column("backtest_id", sa.String(36), primary_key=True),
        sa.Column("month_no", sa.Integer, primary_key=True),
        sa.Column("month", sa.String(7), nullable=False),
        *(sa.Column(name, Money) for name in ("return", "start_equity", "end_equity")),
    )
    op.create_table(
        "backtest_trades",
        sa.Column("backtest_id", sa.String(36), primary_key=True),
        sa.Column("trade_no", sa.Integer, primary_key=True),
        sa.Column("side", sa.String(5), nullable=False),
        sa.Column("entry_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exit_time", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, Money) for name in
          ("entry_price", "exit_price", "quantity", "pnl", "return", "fees")),
    )  # fmt: skip
