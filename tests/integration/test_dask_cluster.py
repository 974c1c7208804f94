"""CSCV's combinations on a real Dask cluster: a ``dask scheduler`` and two ``dask
worker`` processes on 127.0.0.1, started here. The figures are the same bits as on the
threads of one process, and an analysis job sent to the cluster gives the same result."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import numpy as np
import pytest

from domain.overfitting import blocks, probability_of_backtest_overfitting
from infrastructure import jobs
from projections.analyses import cscv_figures, work_once
from tests.server_process import free_port

ROOT = Path(__file__).resolve().parents[2]
DASK = str(Path(sys.executable).parent / "dask")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log = (tmp_path_factory.mktemp("dask") / "dask.log").open("ab")
    scheduler = [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--dashboard-address", ":0", "--no-show"]  # fmt: skip
    started = [subprocess.Popen(scheduler, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)]  # fmt: skip
    try:
        for _ in range(2):
            started.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1",
                                             "--dashboard-address", ":0", "--no-nanny"],
                                            cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT))  # fmt: skip
        from distributed import Client

        deadline = time.monotonic() + 60
        with Client(address, timeout=60) as client:
            while len(client.scheduler_info()["workers"]) < 2:
                assert time.monotonic() < deadline, "the Dask workers did not join"
                time.sleep(0.2)
        yield address
    finally:
        for process in reversed(started):
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:  # a worker still waiting on its scheduler
                process.kill()
                process.wait(timeout=10)
        log.close()


def test_on_two_dask_workers_the_figures_are_the_same_bits(cluster: str, tmp_path: Path) -> None:
    """One test, so that one cluster serves both checks."""
    from domain.analysis_request import AnalysisRequest
    from infrastructure.database import create_engine
    from projections.analyses import request_analysis
    from tests.factories import backtest_document, make_user, record
    from tests.migrated import migrate

    m = np.random.default_rng(4).normal(0.0002, 0.01, (1200, 60))
    parts = blocks(m, 12)
    here = cscv_figures(parts, 12, lambda share: True, None)
    there = cscv_figures(parts, 12, lambda share: True, cluster)
    for name in ("logits", "in_sample", "out_of_sample"):
        assert getattr(here, name).tobytes() == getattr(there, name).tobytes()
    expected = probability_of_backtest_overfitting(m, 12)
    assert float(np.mean(there.logits <= 0)) == expected.pbo

    # an analysis job sent to the cluster gives the same result as on local threads
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    migrate(engine)
    alice = make_user(engine)
    for n in range(5):
        doc = backtest_document(days=200, trades=0, seed=n)
        doc["experiment"] = "grid"
        record(engine, alice, doc)
    results = []
    for scheduler in (None, cluster):
        # another seed each time: another analysis, computed again (PBO takes no seed)
        inputs = AnalysisRequest(partitions=8, reps=50, seed=len(results))
        job, _ = request_analysis(engine, alice.user_id, "grid", inputs)
        assert work_once(engine, "here", scheduler)
        with engine.connect() as conn:
            done = jobs.find(conn, job.analysis_id)
        assert done is not None and done.status == jobs.DONE, done
        results.append(msgspec.json.decode(done.result or ""))
    assert results[0]["pbo"] == results[1]["pbo"]
    engine.dispose()
