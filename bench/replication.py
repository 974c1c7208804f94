"""Past one machine, measured: appends on a primary that streams to a hot standby (a
real ``pg_basebackup -R`` pair on this machine), beside raw psycopg inserts on the same
primary; the primary's CPU per event (events/s per core); the standby's replay lag
under that load; and what one ten-year backtest (2,520 days, 100 trades) costs in each
table, beside its event's own bytes. ``docs/scaling.md`` reads these figures."""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from bench.appends import WRITERS, Job, _ours, _raw
from bench.harness import Result, at_most, libpq, limit, result, scaled
from domain.submission import parse_submission
from infrastructure.database import create_engine, write_transaction
from infrastructure.migrate import upgrade
from infrastructure.users import Role, create_user
from tests.factories import backtest_document, body
from tests.replication import ReplicatedPair

TABLES = ("events", "backtests", "backtest_details", "backtest_daily", "backtest_monthly",
          "backtest_trades", "backtest_documents")  # fmt: skip


def _cpu_seconds(data: Path) -> dict[int, float]:
    """User and system CPU so far of the cluster's postmaster and each backend, by pid."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if pid == postmaster or int(fields[1]) == postmaster:
            found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two readings by the processes alive at the second (a backend
    that ended in between took its seconds with it; one started since counts whole)."""
    return sum(spent - before.get(pid, 0.0) for pid, spent in after.items())


def _appends(
    url: str, make: Callable[[str], tuple[Job, Job]], seconds: float, data: Path
) -> tuple[int, float]:
    """Events appended by WRITERS threads in ``seconds``, and the CPU seconds the
    primary's processes spent meanwhile: read once the writers have stopped appending
    and before their connections close (a backend that has ended can no longer be
    asked its CPU time)."""
    counts = [0] * WRITERS
    done, closing = threading.Barrier(WRITERS + 1), threading.Barrier(WRITERS + 1)
    time.sleep(1)  # the backends of an earlier run gone
    before = _cpu_seconds(data)
    stop = time.monotonic() + seconds

    def writer(index: int) -> None:
        job, close = make(url)
        while time.monotonic() < stop:
            job()
            counts[index] += 1
        done.wait()
        closing.wait()
        close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    done.wait()
    cpu = _cpu_used(before, _cpu_seconds(data))
    closing.wait()
    for t in threads:
        t.join()
    return sum(counts), cpu


def _lag_samples(primary: str, standby: str, until: threading.Event) -> list[tuple[int, float]]:
    """(bytes, seconds) the standby's replay is behind, every 50 ms until ``until``."""
    samples: list[tuple[int, float]] = []
    with psycopg.connect(libpq(primary), autocommit=True) as p, \
            psycopg.connect(libpq(standby), autocommit=True) as s:  # fmt: skip
        while not until.is_set():
            row = p.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            assert row is not None
            lag = s.execute(
                "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()), "
                # behind in time only while WAL waits to be replayed: an idle standby's
                # last replayed commit is old without it being late
                "CASE WHEN pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()) > 0 "
                "THEN EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) ELSE 0 END",
                (row[0], row[0]),
            ).fetchone()
            assert lag is not None
            samples.append((max(0, int(lag[0])), max(0.0, float(lag[1] or 0))))
            time.sleep(0.05)
    return samples


def _bytes_per_backtest(url: str, count: int) -> dict[str, float]:
    engine = create_engine(url)
    with write_transaction(engine) as conn:
        user, _ = create_user(conn, f"sizes-{uuid.uuid4().hex[:6]}", Role.USER)
    from api.handlers import record_backtest

    def sizes() -> dict[str, int]:
        with psycopg.connect(libpq(url), autocommit=True) as raw:
            raw.execute("VACUUM ANALYZE")
            found = {}
            for table in TABLES:
                row = raw.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
                found[table] = int(row[0]) if row else 0
            return found

    before = sizes()
    for seed in range(count):
        doc = backtest_document(days=2520, trades=100, seed=seed)
        submission, sanitized = parse_submission(body(doc))
        record_backtest(engine, user, submission, sanitized)
    after = sizes()
    with psycopg.connect(libpq(url)) as raw:
        row = raw.execute(
            "SELECT avg(pg_column_size(data) + pg_column_size(metadata)) FROM events "
            "WHERE event_type = 'BacktestRecorded'"
        ).fetchone()
    engine.dispose()
    per = {t: (after[t] - before[t]) / count for t in TABLES}
    per["event data (stored, TOAST compressed)"] = float(row[0]) if row else 0.0
    return per


def run() -> list[Result]:
    seconds = float(scaled(10, 2))
    pair = ReplicatedPair()
    primary, standby = pair.start()
    try:
        engine = create_engine(primary)
        upgrade(engine)
        engine.dispose()
        pair.caught_up()
        raw, raw_cpu = _appends(primary, _raw, seconds, pair.primary.data)
        until = threading.Event()
        lags: list[tuple[int, float]] = []
        sampler = threading.Thread(
            target=lambda: lags.extend(_lag_samples(primary, standby, until))
        )
        sampler.start()
        ours, cpu = _appends(primary, _ours, seconds, pair.primary.data)
        until.set()
        sampler.join()
        per_table = _bytes_per_backtest(primary, scaled(50, 10))
    finally:
        pair.stop()
    byte_lags = sorted(b for b, _ in lags)
    time_lags = sorted(t for _, t in lags)
    p99 = byte_lags[int(len(byte_lags) * 0.99)] if byte_lags else 0
    event = per_table.pop("event data (stored, TOAST compressed)")
    models = sum(v for k, v in per_table.items() if k != "events")
    print(f"replication: {ours / seconds:,.0f} appends/s, primary CPU {cpu:.1f} s for "
          f"{ours:,} events; standby lag p50 {statistics.median(byte_lags or [0]):,.0f} B, "
          f"p99 {p99:,} B, max {max(time_lags or [0]):.3f} s")  # fmt: skip
    for table, size in per_table.items():
        print(f"  {table:<20} {size / 1e3:10.1f} kB a backtest")
    print(f"  event data+metadata  {event / 1e3:10.1f} kB (as stored)")
    return [
        result("appends with a streaming standby", ours / seconds, "events/s",
               "raw psycopg inserts, same primary", raw / seconds, 0.5),
        result("appends per primary core", ours / cpu, "events/cpu-s",
               "raw inserts per CPU second of the same primary", raw / raw_cpu, 0.5),
        limit("standby replay lag under appends (max)", max(time_lags or [0]), "s", 1.0,
              "now() - last replayed commit while WAL waits, every 50 ms"),
        at_most("read models per ten-year backtest", models / 1e3, "kB",
                "its event's stored bytes (kB)", event / 1e3, 1.0),
        limit("database per ten-year backtest", (models + per_table["events"]) / 1e6, "MB",
              0.5, "every table with its indexes and TOAST (issue 21's target)"),
    ]  # fmt: skip
