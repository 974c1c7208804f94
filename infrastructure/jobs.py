"""The queue of background analyses: the ``analyses`` table, claimed by workers.

A worker claims the oldest queued job, or a running one whose lease expired (its worker
died), in one transaction: on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so two
workers never take the same job; on SQLite every write transaction holds the database,
which serialises claims. While it computes, the worker renews its lease with each
progress report; a report that finds the job no longer its own (cancelled, or taken
over after its lease expired) tells it to stop. Only the worker holding a job can
finish it, so a job's result is written once.

The standard table-as-queue pattern, rather than a queue library: the jobs live in the
database the service already has (SQLite or PostgreSQL, where procrastinate would need
PostgreSQL only), in the same transactions as their reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from infrastructure.database import as_utc, read_connection, write_transaction
from infrastructure.tables import analyses

a = analyses.c
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


@dataclass(frozen=True)
class Job:
    analysis_id: str
    owner_id: str
    experiment: str
    inputs: str
    status: str
    progress: float
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    attempts: int
    result: str | None
    error: str | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _job(row: Any) -> Job:
    return Job(row.analysis_id, row.owner_id, row.experiment, row.inputs, row.status,
               float(row.progress), as_utc(row.created_at),
               None if row.started_at is None else as_utc(row.started_at),
               None if row.finished_at is None else as_utc(row.finished_at),
               int(row.attempts), row.result, row.error)  # fmt: skip


def find(conn: sa.Connection, analysis_id: str) -> Job | None:
    row = conn.execute(sa.select(analyses).where(a.analysis_id == analysis_id)).first()
    return None if row is None else _job(row)


def enqueue(engine: sa.Engine, analysis_id: str, owner_id: str, experiment: str,
            inputs: str) -> tuple[Job, bool]:  # fmt: skip
    """The job of this id, queued if it is new or was cancelled or failed; whether it
    was (re)queued by this call. Two requests that race to queue the same new job
    both get it: the loser of the insert reads the winner's."""
    try:
        return _enqueue(engine, analysis_id, owner_id, experiment, inputs)
    except sa.exc.IntegrityError:
        with read_connection(engine) as conn:
            job = find(conn, analysis_id)
        assert job is not None
        return job, False


def _enqueue(engine: sa.Engine, analysis_id: str, owner_id: str, experiment: str,
             inputs: str) -> tuple[Job, bool]:  # fmt: skip
    with write_transaction(engine) as conn:
        found = conn.execute(
            sa.select(analyses).where(a.analysis_id == analysis_id).with_for_update()
        ).first()
        if found is not None and found.status not in (CANCELLED, FAILED):
            return _job(found), False
        values = {"status": QUEUED, "progress": 0.0, "created_at": _now(), "started_at": None,
                  "finished_at": None, "worker": None, "lease_until": None, "attempts": 0,
                  "result": None, "error": None}  # fmt: skip
        if found is None:
            conn.execute(analyses.insert().values(analysis_id=analysis_id, owner_id=owner_id,
                                                  experiment=experiment, inputs=inputs,
                                                  **values))  # fmt: skip
        else:
            conn.execute(analyses.update().where(a.analysis_id == analysis_id).values(**values))
        job = find(conn, analysis_id)
        assert job is not None
        return job, True


def waiting(engine: sa.Engine) -> bool:
    """Whether any job is queued or held by an expired lease (a cheap read, so that an
    idle worker does not take the write lock to find nothing)."""
    with read_connection(engine) as conn:
        return conn.execute(sa.select(_claimable(_now()).exists())).scalar_one()  # type: ignore[no-any-return]


def _claimable(now: dt.datetime) -> Any:
    expired = sa.and_(a.status == RUNNING, a.lease_until < now)
    return sa.select(a.analysis_id).where(sa.or_(a.status == QUEUED, expired))


def claim(engine: sa.Engine, worker: str, lease_s: float, only: str | None = None) -> Job | None:
    """Take the oldest claimable job (or job ``only``, if claimable) for ``worker``,
    leased for ``lease_s`` seconds."""
    now = _now()
    claimable = _claimable(now)
    if only is not None:
        claimable = claimable.where(a.analysis_id == only)
    with write_transaction(engine) as conn:
        picked = conn.execute(
            claimable.order_by(a.created_at, a.analysis_id).limit(1)
            .with_for_update(skip_locked=True)
        ).scalar()  # fmt: skip
        if picked is None:
            return None
        lease = now + dt.timedelta(seconds=lease_s)
        conn.execute(
            analyses.update()
            .where(a.analysis_id == picked)
            .values(
                status=RUNNING,
                worker=worker[:100],
                lease_until=lease,
                started_at=sa.func.coalesce(a.started_at, now),
                attempts=a.attempts + 1,
            )
        )
        return find(conn, picked)


def report_progress(engine: sa.Engine, analysis_id: str, worker: str, progress: float,
                    lease_s: float) -> bool:  # fmt: skip
    """Record a running job's progress and renew its lease: False when the job is no
    longer this worker's (cancelled, or taken over), and the worker should stop."""
    with write_transaction(engine) as conn:
        done = conn.execute(
            analyses.update()
            .where(a.analysis_id == analysis_id, a.worker == worker[:100], a.status == RUNNING)
            .values(progress=progress, lease_until=_now() + dt.timedelta(seconds=lease_s))
        )
        return done.rowcount == 1


def finish(engine: sa.Engine, analysis_id: str, worker: str, *, result: str | None = None,
           error: str | None = None) -> bool:  # fmt: skip
    """Store a job's result (or why it failed) if this worker still holds it."""
    with write_transaction(engine) as conn:
        done = conn.execute(
            analyses.update()
            .where(a.analysis_id == analysis_id, a.worker == worker[:100], a.status == RUNNING)
            .values(
                status=DONE if error is None else FAILED,
                progress=1.0 if error is None else a.progress,
                finished_at=_now(),
                lease_until=None,
                result=result,
                error=error,
            )
        )
        return done.rowcount == 1


def release(engine: sa.Engine, analysis_id: str, worker: str) -> bool:
    """Give a running job back to the queue (its worker is shutting down), so that
    another takes it at once rather than when the lease expires."""
    with write_transaction(engine) as conn:
        done = conn.execute(
            analyses.update()
            .where(a.analysis_id == analysis_id, a.worker == worker[:100], a.status == RUNNING)
            .values(status=QUEUED, worker=None, lease_until=None)
        )
        return done.rowcount == 1


def cancel(engine: sa.Engine, analysis_id: str) -> bool:
    """Cancel a queued or running job (its worker stops at its next progress report);
    whether this call did (False: it had ended)."""
    with write_transaction(engine) as conn:
        done = conn.execute(
            analyses.update()
            .where(a.analysis_id == analysis_id, a.status.in_((QUEUED, RUNNING)))
            .values(status=CANCELLED, finished_at=_now(), lease_until=None)
        )
        return done.rowcount == 1
