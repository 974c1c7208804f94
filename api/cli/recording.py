"""The commands that write backtests: ``record`` (one file, stdin, or a sweep of files)
and ``delete``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import sqlalchemy as sa

from api.cli.common import UsageError, engine_of, err, out, progress_bar, user_of
from api.handlers import delete_backtest, exclude_from_trials, record_backtest
from domain.errors import DomainError
from domain.results import BacktestSubmission
from domain.submission import clean_reason, parse_submission
from infrastructure.users import User


def cmd_record(args: argparse.Namespace) -> int:
    """Record each file as a backtest, printing each id as its transaction commits."""
    files: list[str] = args.files
    if "-" in files and len(files) > 1:
        raise UsageError("'-' (stdin) records one backtest, alone")
    if len(files) > 1:
        return _record_sweep(args, files)
    submission, sanitized = _read_submission(files[0])
    engine = engine_of(args)
    note = _record(engine, user_of(engine, args.user), submission, sanitized)
    if note:
        err(note)
    return 0


def _record_sweep(args: argparse.Namespace, files: list[str]) -> int:
    """A sweep in one process: starting a command costs more than recording a backtest.

    Every file is read and validated before the first is recorded, so a bad one, named
    with its field, records nothing. Files are read again to record them, so a sweep of
    any size holds one backtest in memory at a time; each is its own transaction."""
    engine = engine_of(args)
    user = user_of(engine, args.user)  # before a long validation, not after it
    with progress_bar(len(files), "validate", "file") as bar:
        for file in files:
            _read_submission(file, named=True)
            bar.update()
    recorded = 0
    try:
        with progress_bar(len(files), "record", "backtest") as bar:
            for file in files:
                submission, sanitized = _read_submission(file, named=True)
                note = _record(engine, user, submission, sanitized)
                recorded += 1
                if note:
                    bar.write(f"{file}: {note}", file=sys.stderr)
                bar.update()
    finally:
        err(f"recorded {recorded} of {len(files)} backtests")
    return 0


def _record(
    engine: sa.Engine, user: User, submission: BacktestSubmission, sanitized: list[str]
) -> str | None:
    """Record one backtest and print its id once its transaction has committed; return
    the note for stderr on the values stored as null, if there were any."""
    recorded = record_backtest(engine, user, submission, sanitized).recorded
    out(recorded.backtest_id + "\n")
    sys.stdout.flush()  # a script reading the ids of a sweep sees each as it commits
    if not sanitized:
        return None
    return f"stored {len(sanitized)} non-finite value(s) as null: {', '.join(sanitized[:5])}"


def _read_submission(file: str, named: bool = False) -> tuple[BacktestSubmission, list[str]]:
    body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    try:
        return parse_submission(body)
    except DomainError as exc:
        if named:
            raise UsageError(f"{file}: {exc}") from exc
        raise


def cmd_delete(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    delete_backtest(engine, user_of(engine, args.user), args.id)
    err(f"deleted {args.id}")
    return 0


def cmd_exclude(args: argparse.Namespace) -> int:
    reason = clean_reason(args.reason)
    engine = engine_of(args)
    position = exclude_from_trials(engine, user_of(engine, args.user), args.id, reason).position
    err(f"excluded {args.id} from the trials (event at position {position}): {reason}")
    return 0
