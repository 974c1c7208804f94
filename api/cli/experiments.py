"""Sweeps: ``experiments list`` and ``experiments export`` (one table, CSV or Parquet)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from api.cli.common import UsageError, emit_json, engine_of, err, fmt, out, owner_of, user_of
from projections import experiments
from projections.search import search_query
from projections.sweep_export import stream_sweep


def cmd_experiments_list(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    with engine.connect() as conn:
        rows = experiments.list_experiments(conn, owner_of(engine, args.user))
    if args.json:
        emit_json(rows)
        return 0
    for row in rows:
        out(
            f"{row.name:<30} {row.live:>6} live {row.trials:>6} trials  best sharpe "
            f"{fmt(row.best_sharpe)}  last {row.last_recorded_at:%Y-%m-%d %H:%M:%S}\n"
        )
    return 0


def cmd_experiments_export(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    owner = owner_of(engine, args.user)
    query = search_query(owner, sort=args.sort or "created_at", where=args.where,
                         experiment=args.name)  # fmt: skip
    with engine.connect() as conn:
        if not experiments.experiment_exists(conn, args.name, owner):
            raise experiments.ExperimentNotFound(args.name)
    parts = stream_sweep(engine, query, args.format, conventions=args.conventions)
    if args.output:
        with open(args.output, "wb") as handle:
            handle.writelines(parts)
        err(f"wrote {args.output}")
    else:
        sys.stdout.buffer.writelines(parts)
    return 0


def cmd_experiments_analyse(args: argparse.Namespace) -> int:
    """Queue an analysis of a user's experiment; with ``--wait``, run it here (or wait
    for the worker running it) with a progress bar, then show it."""
    import time

    import msgspec
    from tqdm import tqdm

    from domain.analysis_request import AnalysisRequest
    from infrastructure import jobs
    from projections.analyses import analysis_out, find_analysis, request_analysis, work_once

    engine = engine_of(args)
    user = user_of(engine, args.user)
    inputs = {name: getattr(args, name) for name in ("partitions", "benchmark", "reps",
                                                     "block_length", "seed", "size")
              if getattr(args, name) is not None}  # fmt: skip
    try:
        request = msgspec.convert(inputs, AnalysisRequest)
    except msgspec.ValidationError as exc:
        raise UsageError(str(exc)) from exc
    job, _ = request_analysis(engine, user.user_id, args.name, request)
    if args.wait:
        with tqdm(total=100, unit="%", disable=args.json, file=sys.stderr) as bar:

            def shown(share: float) -> None:
                bar.update(round(100 * share) - bar.n)

            while job.status in (jobs.QUEUED, jobs.RUNNING):
                if not work_once(engine, "cli", only=job.analysis_id, shown=shown):
                    time.sleep(0.5)  # another worker holds it
                job = find_analysis(engine, user.user_id, args.name, job.analysis_id)
                shown(job.progress)
    document = analysis_out(job)
    if args.json:
        emit_json(document)
        return 0 if job.status != jobs.FAILED else 1
    out(f"analysis {job.analysis_id}: {job.status}\n")
    if job.error:
        out(f"  {job.error}\n")
    if job.result:
        result = msgspec.json.decode(job.result)
        pbo, ability, matrix = result["pbo"], result["superior_ability"], result["matrix"]
        spa = ability["spa"]["consistent"]
        out(f"  {matrix['variants']} variants x {matrix['rows']} rows, S={pbo['partitions']} "
            f"({pbo['combinations']} combinations)\n"
            f"  PBO {pbo['pbo']:.3f}, P(out-of-sample loss) {pbo['probability_of_loss']:.3f}\n"
            f"  Reality Check p {ability['reality_check']:.4f}, SPA p {spa:.4f}\n"
            f"  StepM: {len(ability['stepm'])} beat the benchmark, "
            f"MCS: {_kept(ability)}\n")  # fmt: skip
    return 0 if job.status != jobs.FAILED else 1


def _kept(ability: dict[str, Any]) -> str:
    if ability["mcs"] is None:
        return f"not computed above {ability['mcs_max_variants']} variants"
    return f"{len(ability['mcs'])} kept"
