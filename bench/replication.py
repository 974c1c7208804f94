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
from collections.abc import Callable
from pathlib import Path

import psycopg

from bench.appends import WRITERS, Job, _ours, _raw
from bench.harness import Result, libpq, limit, result, scaled
from infrastructure.database import create_engine
from infrastructure.migrate import upgrade
from tests.replication import ReplicatedPair


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
    finally:
        pair.stop()
    byte_lags = sorted(b for b, _ in lags)
    time_lags = sorted(t for _, t in lags)
    p99 = byte_lags[int(len(byte_lags) * 0.99)] if byte_lags else 0
    print(f"replication: {ours / seconds:,.0f} appends/s, primary CPU {cpu:.1f} s for "
          f"{ours:,} events; standby lag p50 {statistics.median(byte_lags or [0]):,.0f} B, "
          f"p99 {p99:,} B, max {max(time_lags or [0]):.3f} s")  # fmt: skip
    return [
        result("appends with a streaming standby", ours / seconds, "events/s",
               "raw psycopg inserts, same primary", raw / seconds, 0.5),
        result("appends per primary core", ours / cpu, "events/cpu-s",
               "raw inserts per CPU second of the same primary", raw / raw_cpu, 0.5),
        limit("standby replay lag under appends (max)", max(time_lags or [0]), "s", 1.0,
              "now() - last replayed commit while WAL waits, every 50 ms"),
    ]  # fmt: skip
