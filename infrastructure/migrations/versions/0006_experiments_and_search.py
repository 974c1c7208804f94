"""Experiments and search: the list model gains each backtest's ``experiment`` and a
searchable copy of its ``parameters`` (jsonb with a GIN index on PostgreSQL), and an
index per metric so that a search sorted by any metric reads an index in order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Every backtest recorded before this revision has no experiment (the field did not
exist), so its stored JSON documents only gain ``"experiment":null`` as their last
member, exactly where the projector now writes it: ``projections verify`` holds them
to a rebuild. Their rows of a sweep's table (``sweep_row``, ``sweep_params``) are
rendered from the log by ``fill_missing_documents``, which every CLI command (and
``serve``) runs right after an upgrade.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

METRICS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
           "calmar", "num_trades", "win_rate", "profit_factor")  # fmt: skip
backtests = sa.table(
    "backtests",
    sa.column("backtest_id", sa.String),
    sa.column("list_item", sa.Text),
    sa.column("parameters", sa.Text),
)
details = sa.table(
    "backtest_details", sa.column("backtest_id", sa.String), sa.column("parameters", sa.Text)
)
documents = sa.table(
    "backtest_documents",
    sa.column("backtest_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("part_no", sa.Integer),
    sa.column("body", sa.Text),
)
NO_EXPERIMENT = ',"experiment":null}'


def _with_member(text: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """A JSON object's text with ``"experiment":null`` added as its last member."""
    return sa.func.substr(text, 1, sa.func.length(text) - 1) + NO_EXPERIMENT


def _last_detail_part() -> sa.ColumnElement[bool]:
    last = sa.alias(documents, "last")
    newest = (
        sa.select(sa.func.max(last.c.part_no))
        .where(last.c.backtest_id == documents.c.backtest_id, last.c.kind == "detail")
        .scalar_subquery()
    )
    return sa.and_(documents.c.kind == "detail", documents.c.part_no == newest)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    kind = postgresql.JSONB() if postgres else sa.JSON()
    op.add_column("backtests", sa.Column("experiment", sa.String(200), nullable=True))
    op.add_column("backtests", sa.Column("parameters", kind, nullable=True))
    op.add_column("backtests", sa.Column("sweep_row", sa.Text, nullable=True))
    op.add_column("backtests", sa.Column("sweep_params", sa.Text, nullable=True))
    stored = (
        sa.select(details.c.parameters)
        .where(details.c.backtest_id == backtests.c.backtest_id)
        .scalar_subquery()
    )
    op.execute(backtests.update().values(parameters=sa.cast(stored, kind) if postgres else stored))
    op.execute(
        backtests.update()
        .where(backtests.c.list_item.is_not(None))
        .values(list_item=_with_member(backtests.c.list_item))
    )
    op.execute(documents.update().where(_last_detail_part()).values(body=_with_member(
        documents.c.body)))  # fmt: skip
    op.create_index(
        "ix_backtests_owner_experiment", "backtests", ["owner_id", "experiment", "created_at"]
    )
    for name in METRICS:
        op.create_index(f"ix_backtests_owner_{name}", "backtests", ["owner_id", name,
                                                                    "backtest_id"])  # fmt: skip
    if postgres:
        op.create_index(
            "ix_backtests_parameters",
            "backtests",
            ["parameters"],
            postgresql_using="gin",
            postgresql_ops={"parameters": "jsonb_path_ops"},
        )


def downgrade() -> None:
    cut = len(NO_EXPERIMENT)
    for table, column, where in (
        (backtests, backtests.c.list_item, backtests.c.list_item.is_not(None)),
        (documents, documents.c.body, _last_detail_part()),
    ):
        op.execute(
            table.update()
            .where(where)
            .values({column.name: sa.func.substr(column, 1, sa.func.length(column) - cut) + "}"})
        )
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_backtests_parameters", "backtests")
    for name in METRICS:
        op.drop_index(f"ix_backtests_owner_{name}", "backtests")
    op.drop_index("ix_backtests_owner_experiment", "backtests")
    with op.batch_alter_table("backtests") as batch:
        batch.drop_column("sweep_params")
        batch.drop_column("sweep_row")
        batch.drop_column("parameters")
        batch.drop_column("experiment")
