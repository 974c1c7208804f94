"""``backtest-ledger demo``: a populated service at once, from real market data.

Records a family of moving-average crossovers (with costs), one experiment, over the S&P 500 daily
closes that ship with ``arch`` (``arch.data.sp500``, 1999–2018): enough variants of
one strategy that the list, the heatmaps and the Deflated Sharpe Ratio's trial count
have real content.
"""

from __future__ import annotations

import msgspec
import sqlalchemy as sa

from api.handlers import record_backtest
from domain.reference_strategy import sma_crossover
from infrastructure.database import write_transaction
from infrastructure.event_store import count_events
from infrastructure.users import Role, User, create_user

GRID = [(fast, slow) for fast in (5, 10, 20, 50) for slow in (50, 100, 200) if fast < slow]
DEMO_USER = "demo"
DEMO_EXPERIMENT = "demo-sma-grid"


def sp500_closes() -> tuple[list[object], list[float]]:
    from arch.data import sp500  # ships its data in the package: no network

    closes = sp500.load()["Adj Close"].dropna()
    return [d.date() for d in closes.index], [float(x) for x in closes]


def is_empty(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return count_events(conn) == 0


def record_demo(engine: sa.Engine) -> tuple[User, str, list[str]]:
    """Create the demo user and record the strategy family; return the user, its API
    key and the recorded backtest ids."""
    with write_transaction(engine) as conn:
        user, api_key = create_user(conn, DEMO_USER, Role.USER)
    dates, closes = sp500_closes()
    ids = []
    for fast, slow in GRID:
        submission = sma_crossover(dates, closes, fast=fast, slow=slow, symbol="SPX")  # type: ignore[arg-type]
        submission = msgspec.structs.replace(submission, experiment=DEMO_EXPERIMENT)
        ids.append(record_backtest(engine, user, submission, []).recorded.backtest_id)
    return user, api_key, ids
