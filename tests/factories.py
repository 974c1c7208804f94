"""Builders of test backtests and users, kept small and explicit."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import sqlalchemy as sa

from api.handlers import Recorded, record_backtest
from domain.submission import parse_submission
from infrastructure.database import write_transaction
from infrastructure.users import Role, User, create_user


def backtest_document(
    days: int = 30,
    *,
    symbol: str = "BTCUSDT",
    strategy: str = "sma_cross",
    trades: int = 3,
    seed: int = 1,
    start: dt.date = dt.date(2024, 1, 1),
    capital: float = 10_000.0,
) -> dict[str, Any]:
    """A plausible backtest body with ``days`` daily rows and ``trades`` trades."""
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0005, 0.01, days)
    equity = capital * np.cumprod(1 + returns)
    daily = [
        {"date": (start + dt.timedelta(days=i)).isoformat(), "equity": float(e)}
        for i, e in enumerate(equity)
    ]
    base = dt.datetime(2024, 1, 1, 9, 30, tzinfo=dt.UTC)
    trade_rows = [
        {
            "entry_time": (base + dt.timedelta(hours=5 * i)).isoformat(),
            "exit_time": (base + dt.timedelta(hours=5 * i + 3)).isoformat(),
            "side": "long" if i % 2 == 0 else "short",
            "entry_price": 100.0 + i,
            "exit_price": 101.5 + i,
            "quantity": 2.0,
            "pnl": float(rng.normal(1, 5)),
            "fees": 0.1,
        }
        for i in range(trades)
    ]
    return {
        "symbol": symbol,
        "interval": "1d",
        "strategy": strategy,
        "parameters": {"fast": 10, "slow": 30},
        "test_mode": "backtest",
        "market_type": "spot",
        "initial_capital": capital,
        "periods_per_year": 365,
        "daily_results": daily,
        "trades": trade_rows,
    }


def body(document: dict[str, Any]) -> bytes:
    """Encode as Python clients do (NaN and Infinity tokens included)."""
    return json.dumps(document).encode()


def make_user(engine: sa.Engine, name: str = "alice", role: Role = Role.USER) -> User:
    with write_transaction(engine) as conn:
        user, _key = create_user(conn, name, role)
    return user


def record(engine: sa.Engine, user: User, document: dict[str, Any]) -> Recorded:
    submission, sanitized = parse_submission(body(document))
    return record_backtest(engine, user, submission, sanitized).recorded
