"""Analyses of a whole experiment, run as background jobs: is the best of the sweep
real? The Probability of Backtest Overfitting (``domain.overfitting``), SPA with White's
Reality Check, StepM and the Model Confidence Set (``domain.superior_ability``) and the
parameters' stability, on the sweep's matrix of returns (``projections.sweep_matrix``).

An analysis is identified by a hash of its inputs and of the trials (their ids and
positions), so asking again gives the same job, and a new variant a new one. The
combinations of CSCV run as Dask tasks: on the threads of the worker's own process by
default, or on the cluster ``BACKTEST_LEDGER_DASK_SCHEDULER`` names; each task's
figures are the same bits wherever it runs, and they are joined in order.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import numpy as np
import sqlalchemy as sa

from domain.analysis_request import AnalysisRequest
from domain.confidence_set import (
    MAX_VARIANTS,
    ConfidenceSet,
    identical_columns,
    model_confidence_set,
)
from domain.errors import BacktestNotFound, FieldError, InvalidBacktest
from domain.ids import canonical_id
from domain.overfitting import (
    ChunkFigures,
    NotEnoughData,
    blocks,
    chunk_size,
    combinations,
    cscv_chunk,
    summarise,
)
from domain.parameter_stability import parameter_stability
from domain.parameters import flatten
from domain.superior_ability import (
    CHUNK_BYTES,
    SpaChunk,
    SpaResult,
    bootstrap,
    column_chunks,
    combine,
    losses_of_benchmark,
    spa_chunk,
)
from infrastructure import jobs
from infrastructure.database import read_connection
from infrastructure.tables import analyses, backtest_details, backtests
from projections.experiments import ExperimentNotFound, experiment_exists
from projections.significance import deflated
from projections.sweep_matrix import SweepMatrix, returns_by_key, sweep_matrix, trial_ids

log = logging.getLogger("backtest_ledger.analyses")
b = backtests.c
LEASE_S = 60.0  # a worker that reports no progress for this long has died
POLL_S = 0.5


def analysis_key(conn: sa.Connection, owner_id: str, experiment: str,
                 request: AnalysisRequest, ids: list[str]) -> str:  # fmt: skip
    """The id of an analysis: a hash of its inputs and of the trials (``trial_ids``) by
    their ids and positions."""
    positions = dict(conn.execute(
        sa.select(b.backtest_id, b.position).where(b.backtest_id.in_(ids))).all())  # fmt: skip
    identity = {"owner": owner_id, "experiment": experiment,
                "inputs": msgspec.to_builtins(request),
                "trials": [[i, positions[i]] for i in ids]}  # fmt: skip
    return hashlib.sha256(msgspec.json.encode(identity)).hexdigest()


def request_analysis(
    engine: sa.Engine, owner_id: str, experiment: str, request: AnalysisRequest
) -> tuple[jobs.Job, bool]:
    """The job analysing the owner's experiment with these inputs, queued if new;
    ``ExperimentNotFound``, or an ``InvalidBacktest`` (422) naming why it cannot run."""
    with read_connection(engine) as conn:
        if not experiment_exists(conn, experiment, owner_id):
            raise ExperimentNotFound(experiment)
        trials = trial_ids(conn, experiment, owner_id)
        if len(trials) < 2:
            raise InvalidBacktest([FieldError(
                "", f"the experiment has {len(trials)} live trial(s): an analysis needs 2"
            )])  # fmt: skip
        if request.benchmark is not None:
            request = msgspec.structs.replace(request, benchmark=_benchmark(conn, request,
                                                                            owner_id))  # fmt: skip
        key = analysis_key(conn, owner_id, experiment, request, trials)
        known = jobs.find(conn, key)
        if known is None or known.status in (jobs.CANCELLED, jobs.FAILED):
            try:  # a new job: refuse now what it could not compute
                matrix, _ = _matrix(conn, experiment, owner_id, request)
                blocks(matrix.returns, request.partitions)
            except NotEnoughData as exc:
                raise InvalidBacktest([FieldError("", str(exc))]) from exc
    inputs = msgspec.json.encode(request).decode()
    return jobs.enqueue(engine, key, owner_id, experiment, inputs)


def _matrix(conn: sa.Connection, experiment: str, owner_id: str,
            request: AnalysisRequest) -> tuple[SweepMatrix, np.ndarray | None]:  # fmt: skip
    """The sweep's matrix and the benchmark's returns on its rows (None: staying out)."""
    minimum = 4 * request.partitions
    matrix = sweep_matrix(conn, experiment, owner_id, minimum)
    if request.benchmark is None:
        return matrix, None
    return _against(conn, matrix, request.benchmark, minimum)


def _benchmark(conn: sa.Connection, request: AnalysisRequest, owner_id: str) -> str:
    try:
        wanted = canonical_id(request.benchmark or "")
    except BacktestNotFound:
        wanted = ""
    live = sa.select(b.backtest_id).where(
        b.backtest_id == wanted, b.owner_id == owner_id, b.deleted_position.is_(None)
    )
    found = conn.execute(live).scalar()
    if found is None:
        raise InvalidBacktest([FieldError("/benchmark", "no live backtest of yours has this id")])
    return str(found)


class AnalysisNotFound(LookupError):
    """No analysis of this id of this experiment that the caller may read."""

    def __init__(self, analysis_id: str) -> None:
        super().__init__(f"analysis {analysis_id} not found")


class AnalysisFinished(Exception):
    """An analysis that has ended cannot be cancelled."""

    def __init__(self, analysis_id: str, status: str) -> None:
        super().__init__(f"analysis {analysis_id} is {status}: there is nothing to cancel")


def find_analysis(
    engine: sa.Engine, owner_id: str | None, experiment: str, analysis_id: str
) -> jobs.Job:
    """The analysis of this experiment (the owner's; ``owner_id`` None: anyone's), or
    ``AnalysisNotFound``."""
    with read_connection(engine) as conn:
        job = jobs.find(conn, analysis_id)
    if job is None or job.experiment != experiment or owner_id not in (None, job.owner_id):
        raise AnalysisNotFound(analysis_id)
    return job


def cancel_analysis(engine: sa.Engine, owner_id: str, experiment: str, analysis_id: str) -> None:
    """Cancel the owner's queued or running analysis (``AnalysisFinished`` if it ended)."""
    find_analysis(engine, owner_id, experiment, analysis_id)
    if not jobs.cancel(engine, analysis_id):
        ended = find_analysis(engine, owner_id, experiment, analysis_id)
        raise AnalysisFinished(analysis_id, ended.status)


class AnalysisOut(msgspec.Struct, frozen=True):
    """An analysis as the API serves it: where its job stands and, once done, its
    result."""

    analysis_id: str
    experiment: str
    status: str
    progress: float
    created_at: str
    started_at: str | None
    finished_at: str | None
    inputs: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None


def analysis_out(job: jobs.Job) -> AnalysisOut:
    def moment(value: Any) -> str | None:
        return None if value is None else value.isoformat().replace("+00:00", "Z")

    return AnalysisOut(job.analysis_id, job.experiment, job.status, job.progress,
                       moment(job.created_at) or "", moment(job.started_at),
                       moment(job.finished_at), msgspec.json.decode(job.inputs),
                       None if job.result is None else msgspec.json.decode(job.result),
                       job.error)  # fmt: skip


# --- computing one ------------------------------------------------------------------

Progress = Callable[[float], bool]  # the share done; False: stop (cancelled)


class Stopped(Exception):
    """The job was cancelled or taken over while it ran."""


def compute(engine: sa.Engine, job: jobs.Job, progress: Progress,
            scheduler: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The result of one analysis, reporting progress as it goes (``Stopped`` when a
    report is refused; ``NotEnoughData`` when the matrix cannot be used)."""
    request = msgspec.json.decode(job.inputs, type=AnalysisRequest)
    with read_connection(engine) as conn:
        matrix, benchmark = _matrix(conn, job.experiment, job.owner_id, request)
        sharpes, grid = _sharpes_and_grid(conn, matrix.backtest_ids)
        dsr = _best_deflated(conn, matrix.backtest_ids, sharpes, job.owner_id)
    parts = blocks(matrix.returns, request.partitions)
    periods = matrix.periods_per_year or 252
    figures = cscv_figures(parts, request.partitions, progress, scheduler)
    overfitting = summarise(figures, parts, periods)
    ability, confidence = spa_figures(matrix.returns, benchmark, request, progress, scheduler)
    stability = parameter_stability(grid, sharpes)
    ids = matrix.backtest_ids
    every = max(1, -(-len(figures.logits) // SCATTER_POINTS))  # a sample for the chart
    return {
        "matrix": {
            "variants": len(ids), "rows": len(matrix.keys),
            "first": matrix.keys[0].isoformat(), "last": matrix.keys[-1].isoformat(),
            "rows_dropped": matrix.rows_dropped, "periods_per_year": periods,
            "backtest_ids": ids,
            "left_out": [{"backtest_id": x.backtest_id, "reason": x.reason}
                         for x in matrix.left_out],
            "notes": matrix.notes,
        },
        "pbo": msgspec.to_builtins(overfitting.__dict__ | {
            "degradation": overfitting.degradation.__dict__}),
        "scatter": {
            "every": every,
            "in_sample": _finite_list(figures.in_sample[::every] * math.sqrt(periods)),
            "out_of_sample": _finite_list(figures.out_of_sample[::every] * math.sqrt(periods)),
        },
        "superior_ability": {
            "benchmark": request.benchmark,
            "spa": {"lower": ability.lower, "consistent": ability.consistent,
                    "upper": ability.upper},
            "reality_check": ability.upper,
            "stepm": [ids[i] for i in ability.stepm],
            "mcs": None if confidence is None else [ids[i] for i in confidence.included],
            "mcs_max_variants": MAX_VARIANTS,
        },
        "dsr": dsr,
        "stability": None if stability is None else {
            "best": None if stability.best is None else ids[stability.best],
            "plateau_ratio": stability.plateau_ratio,
            "neighbour_sharpe": dict(zip(ids, stability.neighbour_sharpe, strict=True)),
        },
    }  # fmt: skip


def _best_deflated(conn: sa.Connection, ids: list[str], sharpes: list[float | None],
                   owner_id: str) -> dict[str, Any] | None:  # fmt: skip
    """The Deflated Sharpe Ratio of the best variant by Sharpe (the first on ties), as
    its significance report gives it."""
    ranked = [(s, -n) for n, s in enumerate(sharpes) if s is not None]
    if not ranked:
        return None
    best = ids[-max(ranked)[1]]
    found = deflated(conn, best, owner_id)
    return {"backtest_id": best, "value": found.value, "trials": found.trials,
            "trials_rule": found.trials_rule}  # fmt: skip


SCATTER_POINTS = 1000  # of (in-sample, out-of-sample) Sharpe pairs kept for the chart


def _finite_list(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def latest_analysis(conn: sa.Connection, owner_id: str | None, experiment: str) -> jobs.Job | None:
    """The most recently asked analysis of the experiment (the owner's; None: anyone's)."""
    a = analyses.c
    query = sa.select(a.analysis_id).where(a.experiment == experiment)
    if owner_id is not None:
        query = query.where(a.owner_id == owner_id)
    found = conn.execute(query.order_by(a.created_at.desc()).limit(1)).scalar()
    return None if found is None else jobs.find(conn, found)


def _against(conn: sa.Connection, matrix: SweepMatrix, benchmark: str,
             minimum: int) -> tuple[SweepMatrix, np.ndarray]:  # fmt: skip
    """The matrix without the benchmark's own column, on the rows the benchmark has."""
    theirs = returns_by_key(conn, benchmark)
    keep = [n for n, i in enumerate(matrix.backtest_ids) if i != benchmark]
    aligned = theirs.reindex(matrix.keys).to_numpy(dtype=np.float64)
    rows = ~np.isnan(aligned)
    if rows.sum() < minimum:
        raise NotEnoughData(f"the benchmark has {int(rows.sum())} returns on the sweep's rows: "
                            f"at least {minimum} are needed")  # fmt: skip
    kept = SweepMatrix([matrix.backtest_ids[n] for n in keep],
                       [k for k, r in zip(matrix.keys, rows, strict=True) if r],
                       matrix.returns[rows][:, keep], matrix.rows_dropped + int((~rows).sum()),
                       matrix.periods_per_year, matrix.left_out, matrix.notes)  # fmt: skip
    return kept, aligned[rows]


Grid = list[dict[str, Any]]


def _sharpes_and_grid(conn: sa.Connection, ids: list[str]) -> tuple[list[float | None], Grid]:
    d = backtest_details.c
    sharpe = dict(
        conn.execute(sa.select(b.backtest_id, b.sharpe).where(b.backtest_id.in_(ids))).all()
    )
    params = dict(
        conn.execute(sa.select(d.backtest_id, d.parameters).where(d.backtest_id.in_(ids))).all()
    )
    return ([sharpe.get(i) for i in ids],
            [flatten(msgspec.json.decode(params[i])) for i in ids])  # fmt: skip


def cscv_figures(
    parts: Any, partitions: int, progress: Progress, scheduler: str | None
) -> ChunkFigures:
    """Every combination's figures, chunk by chunk as Dask tasks, in combination order;
    progress (the first half of the job) after each batch of chunks."""
    from dask.delayed import delayed

    every = combinations(partitions)
    size = chunk_size(partitions, parts.sums.shape[1])
    chunks = [every[i : i + size] for i in range(0, len(every), size)]
    shared = delayed(parts, pure=True)
    with _dask(scheduler) as run:
        tasks = [delayed(cscv_chunk)(shared, chosen) for chosen in chunks]
        pieces: list[ChunkFigures] = _in_batches(run, tasks, progress, 0.0, 0.5)
    return ChunkFigures(*(np.concatenate([getattr(p, name) for p in pieces])
                          for name in ("logits", "in_sample", "out_of_sample")))  # fmt: skip


def spa_figures(returns: np.ndarray, benchmark: np.ndarray | None, request: AnalysisRequest,
                progress: Progress, scheduler: str | None, budget: int = CHUNK_BYTES,
                ) -> tuple[SpaResult, ConfidenceSet | None]:  # fmt: skip
    """SPA, StepM and (up to ``MAX_VARIANTS`` variants) the Model Confidence Set: the
    bootstrap over chunks of columns as Dask tasks sharing one set of indices (the
    job's progress from 0.5 to 0.9), then the set (to 1.0)."""
    from dask.delayed import delayed

    rows, variants = returns.shape
    base = losses_of_benchmark(rows, benchmark)
    boot = bootstrap(rows, request.reps, request.block_length, request.seed)
    with_losses = variants <= MAX_VARIANTS
    slices = column_chunks(variants, rows, budget)

    def chunks(floor: float, start: float, span: float) -> list[SpaChunk]:
        shared = delayed(base, pure=True), delayed(boot, pure=True)
        tasks = [delayed(spa_chunk)(np.ascontiguousarray(returns[:, s]), *shared, s.start,
                                    floor, with_losses) for s in slices]  # fmt: skip
        return _in_batches(run, tasks, progress, start, span)

    with _dask(scheduler) as run:
        found = chunks(0.0, 0.5, 0.4)
        ability = combine(found, request.size)
        if not ability.complete:  # StepM reached a column whose mean loss is not above 0
            ability = combine(chunks(-np.inf, 0.9, 0.0), request.size)
    if not with_losses:
        return ability, None

    def tick(share: float) -> None:
        if not progress(0.9 + 0.1 * share):
            raise Stopped

    confidence = model_confidence_set(
        np.concatenate([c.losses_mean for c in found if c.losses_mean is not None]),
        np.concatenate([c.losses_star for c in found if c.losses_star is not None], axis=1),
        request.size,
        identical_columns(returns),
        tick,
    )
    return ability, confidence


Run = Callable[[list[Any]], list[Any]]


@contextlib.contextmanager
def _dask(scheduler: str | None) -> Iterator[Run]:
    """A way to compute Dask tasks: this process's threads, or the cluster at
    ``scheduler``."""
    from dask.base import compute as dask_compute

    if not scheduler:
        yield lambda tasks: list(dask_compute(*tasks, scheduler="threads"))  # type: ignore[no-untyped-call]
        return
    from distributed import Client

    client = Client(scheduler, set_as_default=False, timeout=30)  # type: ignore[no-untyped-call]
    try:
        yield lambda tasks: list(client.gather(client.compute(tasks)))  # type: ignore[no-untyped-call]
    finally:
        client.close()  # type: ignore[no-untyped-call]


def _in_batches(run: Run, tasks: list[Any], progress: Progress, start: float,
                span: float, batch: int = 8) -> list[Any]:  # fmt: skip
    """The tasks' results in order, a batch at a time, the job's progress going from
    ``start`` by ``span`` (``Stopped`` when a report is refused)."""
    results: list[Any] = []
    for first in range(0, len(tasks), batch):
        results += run(tasks[first : first + batch])
        if not progress(start + span * min(1.0, (first + batch) / len(tasks))):
            raise Stopped
    return results


# --- the worker ---------------------------------------------------------------------


def work_once(engine: sa.Engine, worker: str, scheduler: str | None = None,
              lease_s: float = LEASE_S, only: str | None = None,
              shown: Callable[[float], None] | None = None,
              stop: threading.Event | None = None) -> bool:  # fmt: skip
    """Claim one job (``only`` that one, if given) and run it to its end, telling
    ``shown`` its progress; whether there was one. When ``stop`` is set meanwhile, the
    job goes back to the queue at its next progress report."""
    job = jobs.claim(engine, worker, lease_s, only)
    if job is None:
        return False

    def progress(share: float) -> bool:
        if shown is not None:
            shown(share)
        if stop is not None and stop.is_set():
            return False
        return jobs.report_progress(engine, job.analysis_id, worker, share, lease_s)

    try:
        result = compute(engine, job, progress, scheduler)
    except Stopped:
        if stop is not None and stop.is_set():
            jobs.release(engine, job.analysis_id, worker)
            log.info("analysis %s given back to the queue: shutting down", job.analysis_id)
        else:
            log.info("analysis %s stopped: cancelled or taken over", job.analysis_id)
        return True
    except NotEnoughData as exc:
        jobs.finish(engine, job.analysis_id, worker, error=str(exc))
        return True
    except Exception:  # a bug must not kill the worker: the job says it failed
        log.error("analysis %s failed:\n%s", job.analysis_id, traceback.format_exc())
        jobs.finish(engine, job.analysis_id, worker, error="internal error (see the service log)")
        return True
    jobs.finish(engine, job.analysis_id, worker, result=msgspec.json.encode(result).decode())
    return True


def worker_name() -> str:
    return f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"


def run_worker(engine: sa.Engine, stop: threading.Event, scheduler: str | None = None,
               lease_s: float = LEASE_S, poll_s: float = POLL_S) -> None:  # fmt: skip
    """Take jobs until ``stop`` is set, looking for one every ``poll_s`` when idle."""
    worker = worker_name()
    if stop.wait(poll_s):  # a process that lives less than a poll never touches the queue
        return
    while not stop.is_set():
        try:
            found = jobs.waiting(engine) and work_once(engine, worker, scheduler, lease_s,
                                                       stop=stop)  # fmt: skip
        except sa.exc.OperationalError:  # the database is away: try again later
            log.warning("analysis worker: database unreachable", exc_info=True)
            found = False
        if not found:
            stop.wait(poll_s)
