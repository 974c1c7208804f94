"""Sweeps at scale: one user with 100,000 backtests in 20 experiments (BENCH_SCALE
shrinks it), searched over HTTP beside the same query written by hand through psycopg;
how the search's p50 grows from 10,000 to 100,000 backtests; a 30,000-backtest
experiment exported as CSV beside PostgreSQL's COPY of the same columns, and as
Parquet beside ``pyarrow.parquet.write_table`` of the same rows in memory; and
recording with an experiment beside recording without.

The backtests are recorded through the event store's append and the one projector, a
thousand to a transaction (as a rebuild writes them): the search reads only the list
model, and recording 100,000 one request at a time would take most of an hour.
"""

from __future__ import annotations

import datetime as dt
import io
import statistics
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from bench import reads
from bench.harness import (
    PeakRss,
    Result,
    at_most,
    download,
    interleaved_medians,
    libpq,
    limit,
    result,
    scaled,
    served,
)
from bench.workloads import ten_year_backtest
from domain.events import BacktestRecorded, EventMetadata
from domain.results import BacktestSubmission, DailyResult, Trade
from infrastructure.database import create_engine, write_transaction
from infrastructure.event_store import append
from infrastructure.hash_chain import GENESIS
from infrastructure.migrate import upgrade
from infrastructure.users import Role, User, create_user
from projections.experiments import FIXED_COLUMNS
from projections.projector import Projection

QUERY = {"sort": "-sharpe", "where": "max_drawdown > -0.3", "limit": "50"}
EXPERIMENTS = 20
BIG = "sweep-00"  # the experiment that holds 30 % of the backtests
HAND_WRITTEN = (
    "SELECT backtest_id, list_item, sharpe FROM backtests WHERE owner_id = %s "
    "AND deleted_position IS NULL AND sharpe IS NOT NULL AND max_drawdown > -0.3 "
    "ORDER BY sharpe DESC, backtest_id DESC LIMIT 51"
)
PARAMS = ("fast", "slow", "stop")


def submission(rng: np.random.Generator, i: int) -> BacktestSubmission:
    days = 60
    returns = rng.normal(rng.normal(0.0004, 0.0006), rng.uniform(0.004, 0.02), days)
    equity = 10_000 * np.cumprod(1 + returns)
    start = dt.date(2024, 1, 1)
    base = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    trades = [
        Trade(entry_time=base + dt.timedelta(days=3 * t), exit_time=base + dt.timedelta(
            days=3 * t + 1), side="long", entry_price=100.0, exit_price=101.0, quantity=1.0,
            pnl=float(rng.normal(1, 5)))
        for t in range(3)
    ]  # fmt: skip
    experiment = BIG if i % 10 < 3 else f"sweep-{1 + i % (EXPERIMENTS - 1):02d}"
    return BacktestSubmission(
        symbol="SPX", interval="1d", strategy="sma_cross", test_mode="backtest",
        market_type="spot", initial_capital=10_000.0,
        daily_results=[DailyResult(date=start + dt.timedelta(days=d), equity=float(e))
                       for d, e in enumerate(equity)],
        parameters={"fast": int(5 + i % 46), "slow": int(50 + i % 151),
                    "stop": round(float(rng.uniform(0.01, 0.1)), 4)},
        periods_per_year=252, trades=trades, experiment=experiment,
    )  # fmt: skip


def populate(url: str, user: User, start: int, count: int) -> None:
    """Record ``count`` more small backtests for ``user``, a thousand per transaction."""
    engine = create_engine(url)
    rng = np.random.default_rng(start)
    meta = EventMetadata(actor_id=user.user_id)
    done = 0
    while done < count:
        batch = min(1000, count - done)
        with write_transaction(engine) as conn:
            projection = Projection()
            for i in range(start + done, start + done + batch):
                bid = str(uuid.uuid4())
                event = BacktestRecorded(bid, user.user_id, submission(rng, i))
                append(conn, bid, 0, [event], meta, projection.add, previous_hash=GENESIS)
            projection.flush(conn)
        done += batch
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE backtests")
    engine.dispose()


def _hand_written_rate(url: str, owner_id: str, seconds: float = 3.0) -> float:
    """Queries/s of the search written by hand, one connection, one after another."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for _ in range(20):
            conn.execute(HAND_WRITTEN, (owner_id,)).fetchall()
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute(HAND_WRITTEN, (owner_id,)).fetchall()
            count += 1
        return count / (time.perf_counter() - started)


def _search(base: str, api_key: str, path: str = "") -> tuple[float, float, float]:
    """Requests/s, p50 and p99 (ms) of the search (or of ``path``), one keep-alive
    client."""
    url = base + (path or f"/api/v1/backtests?{urllib.parse.urlencode(QUERY)}")
    return reads.wrk(url, api_key, seconds=4, connections=1)


def _copy_baseline(url: str, owner_id: str) -> tuple[float, int, pa.Table]:
    """COPY of the sweep's columns as CSV (seconds, rows), and its rows as Arrow."""
    params = ", ".join(f"parameters->>'{p}' AS \"param.{p}\"" for p in PARAMS)
    columns = ", ".join(f'"{c}"' for c in FIXED_COLUMNS)
    select = (f"SELECT {columns}, {params} FROM backtests WHERE owner_id = '{owner_id}' "
              f"AND experiment = '{BIG}' AND deleted_position IS NULL "
              "ORDER BY created_at, backtest_id")  # fmt: skip
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        with cursor.copy(f"COPY ({select}) TO STDOUT (FORMAT csv, HEADER)") as copy:
            lines = sum(bytes(block).count(b"\n") for block in copy)
        seconds = time.perf_counter() - started
        cursor.execute(select)
        names = [d.name for d in cursor.description or []]
        rows = cursor.fetchall()
    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})
    return seconds, lines - 1, table


def _download(base: str, api_key: str, path: str) -> tuple[float, bytes]:
    """curl's time to download ``path``, and the bytes it got."""
    with tempfile.NamedTemporaryFile() as sink:
        done = download(base, api_key, path, sink.name)
        return done.seconds, Path(sink.name).read_bytes()


def _record_with_and_without(base: str, api_key: str) -> tuple[float, float]:
    plain = ten_year_backtest()
    tagged = plain[:-1] + b', "experiment": "bench-grid"}'
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    per_round = scaled(6, 2)
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:

        def rate(payload: bytes) -> float:
            started = time.perf_counter()
            for _ in range(per_round):
                assert client.post("/api/v1/backtests", content=payload).status_code == 201
            return per_round / (time.perf_counter() - started)

        rate(plain)
        rates = interleaved_medians([plain, tagged], rate, rounds=5)
    return rates[tagged], rates[plain]


def run(url: str) -> list[Result]:
    engine = create_engine(url)
    upgrade(engine)
    with write_transaction(engine) as conn:
        user, api_key = create_user(conn, "sweeper", Role.USER)
    engine.dispose()
    small, total = scaled(10_000, 500), scaled(100_000, 2000)
    results: list[Result] = []
    p50s: dict[int, float] = {}
    populate(url, user, 0, small)
    with served(url) as (base, _pid):
        _search(base, api_key)  # warm
        p50s[small] = statistics.median(_search(base, api_key)[1] for _ in range(3))
    populate(url, user, small, total - small)
    with served(url, workers=1) as (base, pid):
        _search(base, api_key)
        runs = [(_search(base, api_key), _hand_written_rate(url, user.user_id),
                 _search(base, api_key, "/api/v1/whoami")) for _ in range(3)]  # fmt: skip
        rate = statistics.median(r[0][0] for r in runs)
        p50, p99 = (statistics.median(r[0][k] for r in runs) for k in (1, 2))
        hand = statistics.median(r[1] for r in runs)
        trivial = statistics.median(r[2][0] for r in runs)
        p50s[total] = p50
        _download(base, api_key, "/api/v1/experiments/sweep-01/backtests.parquet")  # warm
        _, rows, arrow = _copy_baseline(url, user.user_id)
        csv_path, parquet_path = (f"/api/v1/experiments/{BIG}/backtests.{form}"
                                  for form in ("csv", "parquet"))  # fmt: skip
        with PeakRss(pid) as rss:
            _, csv = _download(base, api_key, csv_path)
        _, parquet = _download(base, api_key, parquet_path)

        def write_table() -> float:
            started = time.perf_counter()
            pq.write_table(arrow, io.BytesIO())
            return time.perf_counter() - started

        timed = {
            "csv": lambda: _download(base, api_key, csv_path)[0],
            "copy": lambda: _copy_baseline(url, user.user_id)[0],
            "parquet": lambda: _download(base, api_key, parquet_path)[0],
            "write_table": write_table,
        }
        seconds = interleaved_medians(list(timed), lambda name: timed[name](), rounds=3)
        csv_seconds, copy_seconds = seconds["csv"], seconds["copy"]
        parquet_seconds, write_table_seconds = seconds["parquet"], seconds["write_table"]
        tagged, plain = _record_with_and_without(base, api_key)
    assert csv.count(b"\r\n") - 1 == rows == pq.read_metadata(io.BytesIO(parquet)).num_rows
    shown: dict[str, Any] = {"n": f"{total:,}", "rows": f"{rows:,}"}
    results += [
        limit(f"search over {shown['n']} backtests, 1 client: p50", p50, "ms", 20.0,
              f"p99 {p99:.1f} ms; {QUERY['sort']}, where {QUERY['where']}, limit 50"),
        result(f"search over {shown['n']} backtests, 1 client", rate, "req/s",
               "the same query hand-written, psycopg, 1 connection", hand, 0.5),
        # The framework's own ceiling for one client: no HTTP route can pass it.
        result("trivial authenticated route, 1 client", trivial, "req/s",
               "the same hand-written query, psycopg, 1 connection", hand, 0.0),
        result(f"search over {shown['n']} backtests, 1 client", rate, "req/s",
               "trivial authenticated route, 1 client, same rounds", trivial, 0.5),
        at_most(f"search p50: {small:,} -> {total:,} backtests", p50s[total], "ms",
                f"p50 at {small:,} backtests", p50s[small], 1.5),
        result(f"sweep of {shown['rows']} backtests as CSV (HTTP)", rows / csv_seconds,
               "rows/s", "COPY (SELECT the same columns) TO STDOUT (FORMAT csv)",
               rows / copy_seconds, 0.5),
        limit("sweep CSV: server RSS growth", rss.growth_mb, "MB", 100.0,
              "peak resident memory growth of the server during the download"),
        result(f"sweep of {shown['rows']} backtests as Parquet (HTTP)", rows / parquet_seconds,
               "rows/s", "pyarrow.parquet.write_table of the same rows in memory",
               rows / write_table_seconds, 0.0),
        result("record 10y daily with an experiment (HTTP)", tagged, "backtests/s",
               "the same without an experiment, interleaved rounds", plain, 0.95),
    ]  # fmt: skip
    return results
