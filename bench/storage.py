"""What a ten-year backtest (2,520 daily rows, 100 trades: issue 21's) costs on disk,
on each store: bytes by table, indexes and TOAST included (PostgreSQL's
``pg_total_relation_size``, SQLite's ``dbstat``), and by column (``pg_column_size``,
SQLite's ``length``), beside the event's own stored bytes."""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from api.handlers import record_backtest
from bench.harness import Result, at_most, libpq, limit, scaled
from domain.submission import parse_submission
from infrastructure.database import create_engine, write_transaction
from infrastructure.migrate import upgrade
from infrastructure.tables import LIVE, events
from infrastructure.users import Role, create_user
from tests.factories import backtest_document, body

READ_MODELS = tuple(table.name for table in LIVE.tables())
TABLES = ("events", *READ_MODELS)
Sizes = dict[str, float]


def _record(url: str, count: int, measure: Callable[[], Sizes]) -> Sizes:
    """Each table's growth per backtest while ``count`` ten-year backtests are recorded."""
    engine = create_engine(url)
    upgrade(engine)
    with write_transaction(engine) as conn:
        user, _ = create_user(conn, f"sizes-{uuid.uuid4().hex[:6]}", Role.USER)
    before = measure()
    for seed in range(count):
        submission, sanitized = parse_submission(
            body(backtest_document(2520, trades=100, seed=seed))
        )
        record_backtest(engine, user, submission, sanitized)
    engine.dispose()
    after = measure()
    return {table: (after[table] - before[table]) / count for table in TABLES}


def _postgres(url: str, count: int) -> tuple[Sizes, Sizes, float]:
    def measure() -> Sizes:
        with psycopg.connect(libpq(url), autocommit=True) as raw:
            for table in TABLES:
                raw.execute(f"VACUUM ANALYZE {table}")
            sizes = {}
            for table in TABLES:
                row = raw.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
                sizes[table] = float(row[0]) if row else 0.0
            return sizes

    per_table = _record(url, count, measure)
    columns: Sizes = {}
    with psycopg.connect(libpq(url)) as raw:
        for table in TABLES:
            for name in _column_names(raw, table):
                total = raw.execute(f'SELECT sum(pg_column_size("{name}")) FROM {table}').fetchone()
                columns[f"{table}.{name}"] = float(total[0] or 0) / count if total else 0.0
        event = raw.execute(
            "SELECT avg(pg_column_size(data) + pg_column_size(metadata)) FROM events "
            "WHERE event_type = 'BacktestRecorded'"
        ).fetchone()
    return per_table, columns, float(event[0]) if event else 0.0


def _column_names(raw: psycopg.Connection[tuple[object, ...]], table: str) -> list[str]:
    rows = raw.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND table_schema = current_schema() ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [str(row[0]) for row in rows]


def _sqlite(count: int) -> tuple[Sizes, Sizes, float]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.sqlite3"

        def measure() -> Sizes:
            if not path.exists():
                return dict.fromkeys(TABLES, 0.0)
            with sqlite3.connect(path) as raw:
                owners = dict(raw.execute("SELECT name, tbl_name FROM sqlite_master"))
                sizes = dict.fromkeys(TABLES, 0.0)
                for name, size in raw.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
                    table = owners.get(name, name)
                    if table in sizes:
                        sizes[table] += size
                return sizes

        per_table = _record(f"sqlite:///{path}", count, measure)
        columns: Sizes = {}
        with sqlite3.connect(path) as raw:
            for table in TABLES:
                for (name,) in raw.execute(f"SELECT name FROM pragma_table_info('{table}')"):
                    (total,) = raw.execute(f'SELECT sum(length("{name}")) FROM {table}').fetchone()
                    columns[f"{table}.{name}"] = float(total or 0) / count
            (event,) = raw.execute(
                "SELECT avg(length(data) + length(metadata)) FROM events "
                "WHERE event_type = 'BacktestRecorded'"
            ).fetchone()
    return per_table, columns, float(event or 0)


def _print(store: str, per_table: Sizes, columns: Sizes, event: float) -> None:
    print(f"storage ({store}), per ten-year backtest:")
    for table, size in per_table.items():
        print(f"  {table:<22} {size / 1e3:9.1f} kB  (indexes and TOAST included)")
        widest = sorted(((v, k) for k, v in columns.items() if k.startswith(table + ".")),
                        reverse=True)[:4]  # fmt: skip
        for value, column in widest:
            print(f"      {column:<34} {value / 1e3:9.1f} kB")
    print(f"  event data + metadata   {event / 1e3:9.1f} kB as stored")


def _results(store: str, per_table: Sizes, event: float) -> list[Result]:
    models = sum(size for table, size in per_table.items() if table != events.name)
    total = models + per_table[events.name]
    return [
        at_most(f"read models per 10y backtest ({store})", models / 1e3, "kB",
                "its event's stored bytes (kB)", event / 1e3, 1.0),
        limit(f"database per 10y backtest ({store})", total / 1e6, "MB", 0.5,
              "every table with its indexes (and TOAST), 2,520 days and 100 trades"),
    ]  # fmt: skip


def run(url: str) -> list[Result]:
    count = scaled(200, 20)
    measured: list[Result] = []
    for store, (per_table, columns, event) in (
        ("PostgreSQL", _postgres(url, count)),
        ("SQLite", _sqlite(count)),
    ):
        _print(store, per_table, columns, event)
        measured += _results(store, per_table, event)
    return measured
