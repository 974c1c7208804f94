"""What every command shares: its output channels (data on stdout, messages on stderr),
its database, the user it acts for, number formats and progress bars."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec
import sqlalchemy as sa

from infrastructure.database import create_engine
from infrastructure.event_store import MAX_POSITION
from infrastructure.migrate import upgrade
from infrastructure.users import User, user_by_name
from projections import rebuild


class UsageError(Exception):
    """Bad input that is not the domain's to name."""


def out(text: str | bytes) -> None:
    if isinstance(text, bytes):
        sys.stdout.buffer.write(text)
    else:
        sys.stdout.write(text)


def err(text: str) -> None:
    print(text, file=sys.stderr)


def emit_json(value: object) -> None:
    out(msgspec.json.encode(value).decode() + "\n")


def position(text: str) -> int:
    """A feed position argument: a whole number from 0 to 2^63 - 1."""
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_POSITION:
        raise argparse.ArgumentTypeError(f"{text!r} is not a position (0 to 2^63 - 1)")
    return int(text)


# Engines a command opened, disposed by ``main`` when it returns: a command run
# in-process (by a test, or a script importing the CLI) leaves no connection open.
OPENED: list[sa.Engine] = []


def engine_of(args: argparse.Namespace) -> sa.Engine:
    engine = create_engine(args.database_url)
    OPENED.append(engine)
    if upgrade(engine):
        filled = rebuild.fill_missing_documents(engine)
        if filled:
            err(
                f"wrote the stored series and documents of {filled} backtests "
                "recorded before this version"
            )
    return engine


def user_of(engine: sa.Engine, name: str) -> User:
    with engine.connect() as conn:
        return user_by_name(conn, name)


def owner_of(engine: sa.Engine, name: str | None) -> str | None:
    """The user id a command is scoped to; ``None`` (no --user): everyone's."""
    return None if name is None else user_of(engine, name).user_id


def progress_bar(total: int, what: str, unit: str = "event") -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, desc=what, smoothing=0.1)


def fmt(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
