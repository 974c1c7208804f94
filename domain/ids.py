"""The one rule for a backtest id from outside: any spelling of a UUID that Python's
``uuid.UUID`` reads (upper case, braces, no hyphens, ``urn:uuid:``) names the backtest
stored under its canonical form, lower-case hex with hyphens; anything else names no
backtest."""

from __future__ import annotations

import uuid

from domain.errors import BacktestNotFound


def canonical_id(text: str) -> str:
    """The stored form of a backtest id, or ``BacktestNotFound``."""
    try:
        return str(uuid.UUID(text))
    except ValueError as exc:
        raise BacktestNotFound(text) from exc
