"""The log's keepers: ``projections rebuild|verify`` and ``audit verify|export``."""

from __future__ import annotations

import argparse
import sys

from api.cli.common import emit_json, engine_of, err, out, progress_bar
from infrastructure import log_file
from infrastructure.audit import ChainReport, export_log, verify_chain, verify_log
from projections import rebuild


def cmd_rebuild(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    if args.from_file:
        report = verify_chain(log_file.read_file(args.from_file))
        if not report.ok:
            err(f"error: {args.from_file} fails verification: {chain_break(report)}")
            return 1
        with progress_bar(report.events, "replay") as bar:
            rebuilt = rebuild.rebuild_from_log(
                engine, log_file.read_file(args.from_file), bar.update
            )
    else:
        with progress_bar(rebuild.total_events(engine), "rebuild") as bar:
            rebuilt = rebuild.rebuild(engine, bar.update)
    for skipped in rebuilt.skipped:
        err(f"SKIPPED {skipped_line(skipped)}")
    kept = f"; {len(rebuilt.skipped)} streams skipped, kept as they were" if rebuilt.skipped else ""
    err(f"rebuilt the read models from {rebuilt.replayed} events{kept}")
    return 0 if rebuilt.ok else 1


def skipped_line(skipped: rebuild.Skipped) -> str:
    return f"stream {skipped.stream_id} at position {skipped.position}: {skipped.error}"


def chain_break(report: ChainReport) -> str:
    m = report.first_mismatch
    if m is None:
        return "no mismatch"
    return f"position {m.position} (stream {m.stream_id}, version {m.stream_version}): {m.reason}"


def cmd_audit_verify(args: argparse.Namespace) -> int:
    report = (
        verify_chain(log_file.read_file(args.file)) if args.file else verify_log(engine_of(args))
    )
    if args.json:
        emit_json(report.to_json())
    elif report.ok:
        out(
            f"ok: {report.events} events in {report.streams} streams verify; "
            f"head position {report.head_position}; digest {report.digest}\n"
        )
        if report.held_back:
            out(
                f"and {report.held_back} newer events verify, held back from the digest "
                "while an older transaction is open (verify again once it ends)\n"
            )
    else:
        out(f"MISMATCH at {chain_break(report)}\n")
    return 0 if report.ok else 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    events = export_log(engine_of(args), args.after)
    if args.output:
        with open(args.output, "wb") as handle:
            count = log_file.write_file(events, handle)
        err(f"wrote {count} events to {args.output}")
    else:
        log_file.write_file(events, sys.stdout.buffer)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    report = rebuild.verify(engine_of(args))
    if args.json:
        emit_json(report.to_json())
    else:
        for m in report.mismatches:
            out(f"MISMATCH backtest {m.backtest_id} in {m.table}: {m.detail}\n")
        for skipped in report.skipped:
            out(f"SKIPPED {skipped_line(skipped)}\n")
        verdict = "match" if report.ok else "do NOT match"
        out(f"{report.backtests} backtests checked: read models {verdict} the log\n")
    return 0 if report.ok else 1
