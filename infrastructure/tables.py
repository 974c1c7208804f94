"""The schema, as SQLAlchemy Core tables: the event log, users, and the read models.

Migrations create these tables; this module is what queries are written against.
On PostgreSQL the events table also has a ``tx_id xid8`` column (see the migration
and ``event_store``) that is deliberately absent here: only the PostgreSQL feed reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from domain.metrics import METRIC_NAMES

metadata = sa.MetaData()

Money = sa.Double
# A backtest's parameters, searchable: jsonb (with a GIN index) on PostgreSQL, JSON
# text read by SQLite's JSON functions elsewhere.
Parameters = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

events = sa.Table(
    "events",
    metadata,
    sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
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

users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    # Advanced by signing out and by revoking: a browser session remembers the epoch it
    # began in and ends once the user's epoch has moved past it.
    sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"),
)

backtests = sa.Table(
    "backtests",
    metadata,
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
    sa.Column("total_return", Money),
    sa.Column("cagr", Money),
    sa.Column("volatility", Money),
    sa.Column("sharpe", Money),
    sa.Column("sortino", Money),
    sa.Column("max_drawdown", Money),
    sa.Column("calmar", Money),
    sa.Column("num_trades", sa.Integer, nullable=False),
    sa.Column("win_rate", Money),
    sa.Column("profit_factor", Money),
    # Against the rows' benchmark_return (domain.relative); null without one (0016).
    sa.Column("beta", Money),
    sa.Column("alpha", Money),
    sa.Column("information_ratio", Money),
    sa.Column("tracking_error", Money),
    # The backtest's item of the list, as the JSON the API serves, written by the
    # projector: a page is one index scan of this table, with no second table to join
    # per item (that join was a quarter of a list request's cost).
    sa.Column("list_item", sa.Text, nullable=True),
    sa.Column("experiment", sa.String(200), nullable=True),
    sa.Column("parameters", Parameters, nullable=True),
    # The backtest's row of its sweep's table, rendered by the projector: its fixed
    # columns as CSV cells, and its parameters as {dotted path: CSV cell}. A sweep's
    # CSV is then these joined, at the speed of reading text (see sweep_export).
    sa.Column("sweep_row", sa.Text, nullable=True),
    sa.Column("sweep_params", sa.Text, nullable=True),
    # Why the owner said this backtest is no trial (BacktestExcludedFromTrials); null
    # while it counts as one.
    sa.Column("excluded_reason", sa.Text, nullable=True),
    # Which code, on which data, in which environment (``domain.provenance``), for
    # ``where provenance.…``; null when the client sent none (0014).
    sa.Column("provenance", Parameters, nullable=True),
    sa.Index("ix_backtests_owner_created", "owner_id", "created_at", "backtest_id"),
    sa.Index("ix_backtests_owner_symbol_strategy", "owner_id", "symbol", "strategy"),
    sa.Index("ix_backtests_created", "created_at", "backtest_id"),
    sa.Index("ix_backtests_owner_experiment", "owner_id", "experiment", "created_at"),
    # A search sorted by a metric reads one of these in order (forward or backward)
    # and stops at the page's end, instead of sorting the owner's whole history.
    *(
        sa.Index(f"ix_backtests_owner_{name}", "owner_id", name, "backtest_id")
        for name in METRIC_NAMES
    ),
    sa.Index(
        "ix_backtests_parameters",
        "parameters",
        postgresql_using="gin",
        postgresql_ops={"parameters": "jsonb_path_ops"},
    ).ddl_if(dialect="postgresql"),
)

backtest_details = sa.Table(
    "backtest_details",
    metadata,
    sa.Column("backtest_id", sa.String(36), primary_key=True),
    sa.Column("parameters", sa.Text, nullable=False),
    sa.Column("initial_capital", Money, nullable=False),
    sa.Column("periods_per_year", sa.Integer, nullable=False),
    sa.Column("reported_metrics", sa.Text, nullable=True),
    sa.Column("sanitized_fields", sa.Text, nullable=False),
    sa.Column("daily_extra_columns", sa.Text, nullable=False),
    sa.Column("monthly_derived", sa.Boolean, nullable=False),
    # The rows' spacing ("1d", "1h"; null for one row), the submission's warnings and
    # the headline figures in backtesting.py's and quantstats' conventions (JSON);
    # null only on a row projected before revision 0011 (filled after it).
    sa.Column("bar_size", sa.String(16), nullable=True),
    sa.Column("warnings", sa.Text, nullable=True),
    sa.Column("conventions", sa.Text, nullable=True),
    # The provenance as recorded (JSON), served in the detail; null when none (0014).
    sa.Column("provenance", sa.Text, nullable=True),
    # The figures against the benchmark (domain.relative, JSON); null only on a row
    # projected before revision 0016 (filled after it).
    sa.Column("relative", sa.Text, nullable=True),
)


def _parts_table(name: str) -> sa.Table:
    """A table of one backtest's stored parts: compressed bytes, by kind and number.
    Already compressed, so PostgreSQL keeps them as they are (STORAGE EXTERNAL)."""
    table = sa.Table(
        name,
        metadata,
        sa.Column("backtest_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("part_no", sa.Integer, primary_key=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    sa.event.listen(
        table,
        "after_create",
        sa.DDL("ALTER TABLE %(table)s ALTER COLUMN body SET STORAGE EXTERNAL").execute_if(  # type: ignore[no-untyped-call]
            dialect="postgresql"
        ),
    )
    return table


# Each backtest's daily results, months and trades as typed columns, compressed, in
# parts of up to 50,000 rows (``projections.series_parts``): a row per day cost ten
# times the day's share of its event. Derived series (returns from equity, drawdowns)
# are computed as the parts are read, by the domain's own functions.
backtest_series = _parts_table("backtest_series")

# The one document kept rendered: each backtest's trades.csv, by the one CSV writer,
# in zlib-compressed parts of about 64 KiB of text, which a download decompresses as
# it sends (a million trades rendered per request ran at a quarter of COPY's speed).
backtest_documents = _parts_table("backtest_documents")


# Significance reports already computed, one per backtest and per hash of everything
# that enters one (parameters, the samples fitted, the trials' Sharpe ratios): a
# bootstrap costs seconds, reading a report back a millisecond. A cache, not a read
# model: any row may be dropped, and a rebuild empties the table.
significance_reports = sa.Table(
    "significance_reports",
    metadata,
    sa.Column("backtest_id", sa.String(36), primary_key=True),
    sa.Column("inputs_hash", sa.String(64), primary_key=True),
    sa.Column("report", sa.LargeBinary, nullable=False),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
)

# Analyses of a whole experiment (PBO, SPA, StepM, MCS), run in the background: one row
# per job, keyed by a hash of its inputs and of the trials' ids and positions, so a new
# variant makes a new analysis. Derived data: a rebuild drops them (0015).
analyses = sa.Table(
    "analyses",
    metadata,
    sa.Column("analysis_id", sa.String(64), primary_key=True),
    sa.Column("owner_id", sa.String(36), nullable=False),
    sa.Column("experiment", sa.String(200), nullable=False),
    sa.Column("inputs", sa.Text, nullable=False),
    # queued, running, done, failed or cancelled
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("progress", sa.Double, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    # a running job's worker and how long it holds the job without a heartbeat
    sa.Column("worker", sa.String(100), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_analyses_status_created", "status", "created_at"),
    sa.Index("ix_analyses_owner_experiment", "owner_id", "experiment", "created_at"),
)

# Requests per scope, identity and minute, counted by every service node
# (``rate_windows``): a limit then holds across nodes. Unlogged on PostgreSQL.
rate_windows = sa.Table(
    "rate_windows",
    metadata,
    sa.Column("scope", sa.String(20), primary_key=True),
    sa.Column("identity", sa.String(200), primary_key=True),
    sa.Column("window_start", sa.BigInteger, primary_key=True),
    sa.Column("hits", sa.Integer, nullable=False),
)


idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("response", sa.LargeBinary, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class ReadModels:
    """One set of read-model tables: the live ones, or a rebuild's fresh ones."""

    backtests: sa.Table
    details: sa.Table
    series: sa.Table
    documents: sa.Table

    def tables(self) -> tuple[sa.Table, ...]:
        return (self.backtests, self.details, self.series, self.documents)


LIVE = ReadModels(backtests, backtest_details, backtest_series, backtest_documents)
SHADOW_SUFFIX = "__rebuild"


def shadow_read_models() -> ReadModels:
    """Fresh copies of the read-model tables, named ``<table>__rebuild``, with their
    primary keys but without secondary indexes (created at the swap, after loading)."""
    shadow_metadata = sa.MetaData()
    copies = []
    for table in LIVE.tables():
        copy = table.to_metadata(shadow_metadata, name=table.name + SHADOW_SUFFIX)
        copy.indexes.clear()
        copies.append(copy)
    return ReadModels(*copies)
