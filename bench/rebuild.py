"""Rebuilding the read models from the log, against raw reading of the same log plus
COPYing the same read-model rows, and how the rebuild's time grows with the log."""

from __future__ import annotations

import time

import psycopg
import sqlalchemy as sa

from api.handlers import record_backtest
from bench.harness import Result, bench_schema, copyable, libpq, result, scaled
from domain.submission import parse_submission
from infrastructure.database import create_engine, write_transaction
from infrastructure.migrate import upgrade
from infrastructure.tables import LIVE
from infrastructure.users import Role, create_user
from projections.rebuild import rebuild
from tests.factories import backtest_document, body


def populate(url: str, count: int) -> sa.Engine:
    engine = create_engine(url)
    upgrade(engine)
    with write_transaction(engine) as conn:
        user, _ = create_user(conn, "bench", Role.USER)
    variants = [parse_submission(body(backtest_document(days=250, trades=20, seed=s)))
                for s in range(20)]  # fmt: skip
    for i in range(count):
        submission, sanitized = variants[i % len(variants)]
        record_backtest(engine, user, submission, sanitized)
    return engine


def raw_seconds(url: str) -> float:
    """Read every event's bytes in feed order, then COPY the read-model rows (fetched
    beforehand) into empty copies of the tables, in one transaction."""
    with psycopg.connect(libpq(url)) as conn:
        rows = {  # jsonb comes back as dicts: made copyable before the clock starts
            t.name: [
                [copyable(v) for v in row] for row in conn.execute(f'SELECT * FROM "{t.name}"')
            ]
            for t in LIVE.tables()
        }
        for t in LIVE.tables():
            conn.execute(f'CREATE TABLE "raw_{t.name}" (LIKE "{t.name}" INCLUDING ALL)')
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.execute("SELECT data, metadata FROM events ORDER BY tx_id, position")
            for _ in cursor:
                pass
            for name, table_rows in rows.items():
                with cursor.copy(f'COPY "raw_{name}" FROM STDIN') as copy:
                    for row in table_rows:
                        copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


def run() -> list[Result]:
    results = []
    sizes = [scaled(2500, 50), scaled(5000, 100), scaled(10_000, 200)]
    for count in sizes:
        with bench_schema() as url:
            engine = populate(url, count)
            started = time.perf_counter()
            replayed = rebuild(engine).replayed
            seconds = time.perf_counter() - started
            engine.dispose()
            baseline = raw_seconds(url)
        assert replayed == count
        results.append(
            result(f"rebuild of {count:,} backtests (250 days, 20 trades)", count / seconds,
                   "backtests/s", "raw read of the log + COPY of the same read-model rows",
                   count / baseline, 0.5)
        )  # fmt: skip
    return results
