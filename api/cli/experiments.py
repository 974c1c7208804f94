"""Sweeps: ``experiments list`` and ``experiments export`` (one table, CSV or Parquet)."""

from __future__ import annotations

import argparse
import sys

from api.cli.common import emit_json, engine_of, err, fmt, out, owner_of
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
