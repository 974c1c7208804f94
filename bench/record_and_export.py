"""Recording backtests over HTTP, and downloading a large trades.csv, each against
raw psycopg doing the same database work in the same run."""

from __future__ import annotations

import io
import statistics
import time
import uuid

import httpx
import pandas as pd
import psycopg

from api.handlers import record_backtest
from bench import growth, large_records, reads, significance
from bench.harness import (
    PeakRss,
    Result,
    copyable,
    download_trades_csv,
    libpq,
    limit,
    result,
    scaled,
    served,
)
from bench.workloads import big_submission, ten_year_backtest
from domain.results import BacktestSubmission, given
from infrastructure.database import create_engine, write_transaction
from infrastructure.migrate import upgrade
from infrastructure.tables import LIVE
from infrastructure.users import Role, create_user, user_by_key

READ_MODELS = [table.name for table in LIVE.tables()]
TRADE_COLUMNS = ("trade_no, side, entry_time, exit_time, entry_price, exit_price, quantity, "
                 "pnl, \"return\", fees")  # fmt: skip


ROUNDS = 5


def bench_record(url: str, api_key: str, base: str) -> list[Result]:
    """Rounds of HTTP records interleaved with rounds of the raw baseline, median rate
    of each: a burst of load on the shared machine lands on both alike."""
    payload = ten_year_backtest()
    per_round = scaled(8, 2)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    api_rates, raw_rates = [], []
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        assert client.post("/api/v1/backtests", content=payload).status_code == 201  # warm up
        for _ in range(ROUNDS):
            started = time.perf_counter()
            for _ in range(per_round):
                response = client.post("/api/v1/backtests", content=payload)
                assert response.status_code == 201, response.text
            api_rates.append(per_round / (time.perf_counter() - started))
            raw_rates.append(per_round / raw_record_seconds(url, per_round))
    api_rate, raw_rate = statistics.median(api_rates), statistics.median(raw_rates)
    mb = len(payload) / 1e6
    return [
        result("record 10y daily + 500 trades (HTTP)", api_rate, "backtests/s",
               "psycopg: same event row + COPY of same read-model rows, 1 tx each",
               raw_rate, 0.5),
        result("record 10y daily + 500 trades (HTTP)", api_rate * mb, "MB/s",
               "same baseline, body MB/s", raw_rate * mb, 0.5),
    ]  # fmt: skip


def raw_record_seconds(url: str, n: int, sample_id: str | None = None) -> float:
    """Write what one recorded backtest (``sample_id``, or any) stored, n times, with
    plain psycopg."""
    with psycopg.connect(libpq(url)) as conn:
        if sample_id is None:
            sample = conn.execute("SELECT backtest_id FROM backtests LIMIT 1").fetchone()
            assert sample is not None
            (sample_id,) = sample
        event = conn.execute(
            "SELECT event_type, schema_version, data, metadata, recorded_at, hash "
            "FROM events WHERE stream_id = %s",
            (sample_id,),
        ).fetchone()
        rows = {  # jsonb comes back as dicts: made copyable before the clock starts
            t: [
                [copyable(v) for v in row]
                for row in conn.execute(f"SELECT * FROM {t} WHERE backtest_id = %s", (sample_id,))
            ]
            for t in READ_MODELS
        }
        conn.commit()
        started = time.perf_counter()
        for _ in range(n):
            new_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO events (event_id, stream_id, stream_version, event_type, "
                "schema_version, data, metadata, recorded_at, hash) "
                "VALUES (%s, %s, 1, %s, %s, %s, %s, %s, %s)",
                (str(uuid.uuid4()), new_id, *event),  # type: ignore[misc]
            )
            with conn.cursor() as cursor:
                for table, table_rows in rows.items():
                    with cursor.copy(f"COPY {table} FROM STDIN") as copy:
                        for row in table_rows:
                            copy.write_row((new_id, *row[1:]))
            conn.commit()
        return time.perf_counter() - started


def _typed_trades(url: str, submission: BacktestSubmission) -> None:
    """The baseline's table: the same trades as typed rows, one a trade (the ledger
    keeps them as compressed columns, and its trades.csv rendered)."""
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_trades (trade_no int PRIMARY KEY, side text, "
            "entry_time timestamptz, exit_time timestamptz, entry_price float8, "
            'exit_price float8, quantity float8, pnl float8, "return" float8, fees float8)'
        )
        with cursor.copy(f"COPY bench_trades ({TRADE_COLUMNS}) FROM STDIN") as copy:
            for number, t in enumerate(submission.trades, 1):
                prices = (t.entry_price, t.exit_price, t.quantity, t.pnl)
                copy.write_row((number, t.side, t.entry_time, t.exit_time, *prices,
                                given(t.return_), given(t.fees)))  # fmt: skip


def bench_export(url: str, api_key: str, base: str, pid: int) -> list[Result]:
    n_trades = scaled(1_000_000, 10_000)
    engine = create_engine(url)
    with engine.connect() as connection:
        user = user_by_key(connection, api_key)
    assert user is not None
    submission = big_submission(n_trades)
    backtest_id = record_backtest(engine, user, submission, []).recorded.backtest_id
    engine.dispose()
    _typed_trades(url, submission)

    with PeakRss(pid) as rss:
        downloaded = download_trades_csv(base, api_key, backtest_id)
    size, api_seconds = downloaded.size, downloaded.seconds

    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cursor:
        copied = 0
        started = time.perf_counter()
        query = (f"COPY (SELECT {TRADE_COLUMNS} FROM bench_trades ORDER BY trade_no) "
                 "TO STDOUT (FORMAT csv, HEADER)")  # fmt: skip
        with cursor.copy(query) as copy:
            for block in copy:
                copied += len(block)
        copy_seconds = time.perf_counter() - started
        cursor.execute(f"SELECT {TRADE_COLUMNS} FROM bench_trades ORDER BY trade_no")
        names = [d.name for d in cursor.description or []]
        frame = pd.DataFrame(cursor.fetchall(), columns=names)
    started = time.perf_counter()
    frame.to_csv(io.StringIO(), index=False)
    pandas_seconds = time.perf_counter() - started

    rows = n_trades
    return [
        result(f"trades.csv of {rows:,} trades (HTTP)", rows / api_seconds, "rows/s",
               "PostgreSQL COPY (SELECT ...) TO STDOUT (FORMAT csv)", rows / copy_seconds, 0.8),
        result(f"trades.csv of {rows:,} trades (HTTP)", rows / api_seconds, "rows/s",
               "pandas.DataFrame.to_csv of the same rows", rows / pandas_seconds, 3.0),
        result(f"trades.csv of {rows:,} trades (HTTP)", size / api_seconds / 1e6, "MB/s",
               "COPY csv MB/s", copied / copy_seconds / 1e6, 0.8),
        limit("trades.csv server RSS growth", rss.growth_mb, "MB", 100.0,
              "peak resident memory growth of the server during the download"),
    ]  # fmt: skip


def run(url: str) -> list[Result]:
    engine = create_engine(url)
    upgrade(engine)
    with write_transaction(engine) as conn:
        _, api_key = create_user(conn, "bench", Role.USER)
    engine.dispose()
    with served(url) as (base, pid):
        measured = (
            bench_record(url, api_key, base)
            + bench_export(url, api_key, base, pid)
            + significance.run(base, api_key)
        )
    with served(url) as (base, pid):  # a server of its own: its peak is the record's
        measured += large_records.run(url, api_key, base, pid)
    return measured + reads.run(url, api_key) + growth.run(url, api_key)
