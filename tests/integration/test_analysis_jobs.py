"""The queue of analyses on both stores: a job is taken by one worker at a time, a dead
worker's job is taken again once its lease expires and is finished once, and the job of
a served ledger SIGKILLed in the middle of an analysis is finished by a ``backtest-ledger
worker`` once its lease expires."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import msgspec
import sqlalchemy as sa

from infrastructure import jobs
from infrastructure.tables import analyses
from tests.api.conftest import make_keys
from tests.factories import backtest_document, body
from tests.server_process import CLI, Server


def _queue(engine: sa.Engine, n: int) -> list[str]:
    return [jobs.enqueue(engine, f"{i:064x}", "owner", "grid", "{}")[0].analysis_id
            for i in range(n)]  # fmt: skip


def test_a_dead_workers_job_is_taken_again_after_its_lease_and_finished_once(
    engine: sa.Engine,
) -> None:
    [job_id] = _queue(engine, 1)
    first = jobs.claim(engine, "first", lease_s=0.5)
    assert first is not None and first.status == jobs.RUNNING and first.attempts == 1
    assert jobs.claim(engine, "second", lease_s=0.5) is None  # held
    assert jobs.report_progress(engine, job_id, "first", 0.25, lease_s=0.5)
    time.sleep(0.7)  # the first worker died: no more reports
    taken = jobs.claim(engine, "second", lease_s=30)
    assert taken is not None and taken.analysis_id == job_id and taken.attempts == 2
    assert taken.started_at == first.started_at  # when it first started
    assert not jobs.report_progress(engine, job_id, "first", 0.5, lease_s=0.5)  # told to stop
    assert not jobs.finish(engine, job_id, "first", result='{"from": "first"}')
    assert jobs.finish(engine, job_id, "second", result='{"from": "second"}')
    with engine.connect() as conn:
        done = jobs.find(conn, job_id)
    assert done is not None and done.status == jobs.DONE and done.result == '{"from": "second"}'
    assert not jobs.cancel(engine, job_id)  # it has ended


def test_a_worker_shutting_down_gives_its_job_back_at_once(engine: sa.Engine) -> None:
    [job_id] = _queue(engine, 1)
    assert jobs.claim(engine, "leaving", lease_s=60) is not None
    assert jobs.release(engine, job_id, "leaving")
    taken = jobs.claim(engine, "next", lease_s=60)  # no lease to wait out
    assert taken is not None and taken.analysis_id == job_id and taken.attempts == 2
    assert not jobs.release(engine, job_id, "leaving")  # no longer its own


def test_workers_racing_for_jobs_never_take_the_same_one(engine: sa.Engine) -> None:
    queued = set(_queue(engine, 30))
    taken: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := jobs.claim(engine, name, lease_s=60)) is not None:
            with lock:
                taken.append(job.analysis_id)
            assert jobs.finish(engine, job.analysis_id, name, result="{}")

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(queued)  # each once
    with engine.connect() as conn:
        attempts = conn.execute(sa.select(sa.func.max(analyses.c.attempts))).scalar_one()
    assert attempts == 1


def test_an_analysis_survives_a_sigkill_of_the_service(tmp_path: Path, database_url: str) -> None:
    """A served ledger SIGKILLed mid-analysis; a `backtest-ledger worker` takes the job
    over when its lease expires and finishes it, once."""
    from infrastructure.database import create_engine

    url = database_url
    engine = create_engine(url)
    try:
        _sigkilled_mid_analysis(engine, url, tmp_path)
    finally:
        engine.dispose()


def _sigkilled_mid_analysis(engine: sa.Engine, url: str, tmp_path: Path) -> None:
    from tests.migrated import migrate

    migrate(engine)
    key = make_keys(engine)["alice"]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    settings = {"BACKTEST_LEDGER_ANALYSIS_LEASE_S": "2", "BACKTEST_LEDGER_ANALYSIS_WORKERS": "1"}
    server = Server(url, tmp_path / "server.log", workers=1, **settings)
    server.start()
    try:
        for n in range(12):
            doc = backtest_document(days=300, trades=0, seed=n)
            doc["experiment"] = "grid"
            assert httpx.post(f"{server.base}/api/v1/backtests", content=body(doc),
                              headers=headers).status_code == 201  # fmt: skip
        # enough replications that the bootstrap takes seconds: killed while it runs
        inputs = body({"partitions": 16, "reps": 5_000})
        asked = httpx.post(f"{server.base}/api/v1/experiments/grid/analyses", content=inputs,
                           headers=headers)  # fmt: skip
        location = server.base + asked.headers["location"]
        deadline = time.monotonic() + 30
        while httpx.get(location, headers=headers).json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.kill()
    finally:
        server.stop()
    with engine.connect() as conn:
        row = conn.execute(sa.select(analyses)).one()
    assert row.status == jobs.RUNNING and row.attempts == 1  # left mid-job

    # taken over, once the lease has expired, by a `backtest-ledger worker` elsewhere
    env = dict(os.environ, BACKTEST_LEDGER_DATABASE_URL=url, **settings)
    with (tmp_path / "worker.log").open("ab") as log:
        worker = subprocess.Popen([CLI, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            with engine.connect() as conn:
                row = conn.execute(sa.select(analyses)).one()
            if row.status != jobs.RUNNING:
                break
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0  # a clean stop on SIGTERM
    assert row.status == jobs.DONE and row.attempts == 2 and row.result is not None
    assert msgspec.json.decode(row.result)["pbo"]["combinations"] == 12_870
