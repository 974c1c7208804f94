"""The ``backtest-ledger`` command line.

Scripts drive it, so its output is a contract: identifiers and data on stdout, human
messages on stderr; exit 0 on success, 1 when a verification finds a mismatch, 2 on
bad usage or input (one line on stderr, never a traceback), 3 when the command
could not complete (database unreachable, unexpected failure).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import sqlalchemy as sa

from api.cli.common import OPENED, UsageError, err
from api.cli.parser import build_parser
from api.handlers import NotPermitted
from domain.errors import DomainError
from domain.search import BadExpression
from infrastructure import log_file
from infrastructure.event_store import ConcurrencyConflict, UnknownPosition
from infrastructure.settings import Settings
from infrastructure.users import UserExists, UserNotFound
from projections import cursors, documents, experiments, queries, rebuild
from projections.significance import TooManyDraws

USAGE_ERRORS = (
    DomainError,
    UserExists,
    UserNotFound,
    cursors.BadCursor,
    queries.BadAsOf,
    OSError,
    NotPermitted,
    log_file.BadLogFile,
    rebuild.LogNotEmpty,
    UnknownPosition,
    UsageError,
    BadExpression,
    experiments.ExperimentNotFound,
    TooManyDraws,
)


def _descending_sorts(argv: Sequence[str]) -> list[str]:
    """``--sort -sharpe`` as ``--sort=-sharpe``: argparse would take ``-sharpe`` for an
    option and refuse the command."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--sort" and arg.startswith("-") and not arg.startswith("--"):
            out[-1] = f"--sort={arg}"
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_descending_sorts(sys.argv[1:] if argv is None else argv))
    if not hasattr(args, "database_url"):
        args.database_url = Settings().database_url
    try:
        return _run(args)
    finally:
        while OPENED:
            OPENED.pop().dispose()


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.run(args))
    except USAGE_ERRORS as exc:
        err(f"error: {exc}")
        return 2
    except ConcurrencyConflict as exc:
        err(f"error: {exc}; try again")
        return 2
    except sa.exc.OperationalError as exc:
        err(f"error: database unavailable: {str(exc.orig).splitlines()[0]}")
        return 3
    except documents.MissingDocument as exc:
        err(f"error: {exc}")
        return 3
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("BACKTEST_LEDGER_DEBUG"):
            raise
        err(f"error: unexpected {type(exc).__name__}: {exc} (BACKTEST_LEDGER_DEBUG=1 shows more)")
        return 3


__all__ = ["build_parser", "main"]
