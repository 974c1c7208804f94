"""CSCV's combinations on a real Dask cluster: a scheduler on 127.0.0.1 and two worker
processes, started here, reached over TCP as ``BACKTEST_LEDGER_DASK_SCHEDULER`` would
be. CSCV's figures and the bootstrap's are the same bits as on the threads of one
process (and as arch's own), and an analysis job sent to the cluster gives the same
result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import numpy as np
import pytest

from domain.analysis_request import AnalysisRequest
from domain.overfitting import blocks, probability_of_backtest_overfitting
from domain.superior_ability import superior_ability
from infrastructure import jobs
from projections.analyses import cscv_figures, spa_figures, work_once


def _note(heard: list[float]):  # type: ignore[no-untyped-def]
    def progress(share: float) -> bool:
        heard.append(share)
        return True

    return progress


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Dask scheduler listening on 127.0.0.1 and two worker processes (forked: they
    start in a second where spawned ones import everything again)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}), LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    ) as local:  # fmt: skip
        assert len(local.workers) == 2
        yield str(local.scheduler_address)


def test_on_two_dask_workers_the_figures_are_the_same_bits(cluster: str, tmp_path: Path) -> None:
    """One test, so that one cluster serves both checks."""
    from arch.bootstrap import MCS

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

    # the bootstrap's chunks of columns (8 of them) on the two workers: arch's figures
    request = AnalysisRequest(partitions=12, reps=200, seed=3, size=0.1)
    heard: list[float] = []
    spread, confidence = spa_figures(m, None, request, _note(heard), cluster, 1200 * 8 * 7)
    alone = superior_ability(m, reps=200, seed=3, size=0.1)
    assert spread == alone and confidence is not None
    mcs = MCS(-m, size=0.1, reps=200, method="R", seed=3)
    mcs.compute()
    assert confidence.pvalues == mcs.pvalues["Pvalue"].sort_index().tolist()
    assert heard == sorted(heard) and heard[0] > 0.5 and heard[-1] == 1.0

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
