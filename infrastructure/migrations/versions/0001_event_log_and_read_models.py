"""The event log (append-only by trigger), users, and the backtest read models.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Money = sa.Double

PG_APPEND_ONLY = [
    """
    CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'events is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()
    """,
]

SQLITE_APPEND_ONLY = [
    f"""
    CREATE TRIGGER events_no_{op_name.lower()} BEFORE {op_name} ON events
    BEGIN SELECT RAISE(ABORT, 'events is append-only: {op_name} refused'); END
    """
    for op_name in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "events",
        sa.Column(
            "position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
        ),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("stream_id", sa.String(36), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("metadata", sa.LargeBinary, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
    )
    if dialect == "postgresql":
        # Feed order is (tx_id, position): see infrastructure/event_store.py.
        op.execute("ALTER TABLE events ADD COLUMN tx_id xid8 NOT NULL DEFAULT pg_current_xact_id()")
        op.execute("CREATE INDEX ix_events_feed ON events (tx_id, position)")
        for statement in PG_APPEND_ONLY:
            op.execute(statement)
    else:
        for statement in SQLITE_APPEND_ONLY:
            op.execute(statement)

    op.create_table(
        "users",
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "backtests",
        sa.Column("backtest_id", sa.String(36), primary_key=True),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("interval", sa.String(64), nullable=False),
        sa.Column("strategy", sa.String(200), nullable=False),
        sa.Column("test_mode", sa.String(64), nullable=False),
        sa.Column("market_type", sa.String(64), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("deleted_position", sa.BigInteger, nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        *(
            sa.Column(name, Money)
            for name in ("total_return", "cagr", "volatility", "sharpe", "sortino")
        ),
        sa.Column("max_drawdown", Money),
        sa.Column("calmar", Money),
        sa.Column("num_trades", sa.Integer, nullable=False),
        sa.Column("win_rate", Money),
        sa.Column("profit_factor", Money),
    )
    op.create_index(
        "ix_backtests_owner_created", "backtests", ["owner_id", "created_at", "backtest_id"]
    )
    op.create_index(
        "ix_backtests_owner_symbol_strategy", "backtests", ["owner_id", "symbol", "strategy"]
    )
    op.create_table(
        "backtest_details",
        sa.Column("backtest_id", sa.String(36), primary_key=True),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.Column("initial_capital", Money, nullable=False),
        sa.Column("periods_per_year", sa.Integer, nullable=False),
        sa.Column("reported_metrics", sa.Text, nullable=True),
        sa.Column("sanitized_fields", sa.Text, nullable=False),
        sa.Column("daily_extra_columns", sa.Text, nullable=False),
        sa.Column("monthly_derived", sa.Boolean, nullable=False),
    )
    op.create_table(
        "backtest_daily",
        sa.Column("backtest_id", sa.String(36), primary_key=True),
        sa.Column("day_no", sa.Integer, primary_key=True),
        sa.Column("date", sa.Date, nullable=False),
        *(
            sa.Column(name, Money)
            for name in ("equity", "return", "drawdown", "cash", "position", "benchmark_return")
        ),
    )
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
        *(
            sa.Column(name, Money)
            for name in ("entry_price", "exit_price", "quantity", "pnl", "return", "fees")
        ),
    )


def downgrade() -> None:
    raise NotImplementedError("the event log is never dropped by a migration")
