"""The trades.csv export on the embedded SQLite store: memory stays flat there too."""

from __future__ import annotations

import tempfile
from pathlib import Path

from api.handlers import record_backtest
from bench.harness import PeakRss, Result, download_trades_csv, limit, scaled, served
from bench.workloads import big_submission
from infrastructure.database import create_engine, write_transaction
from infrastructure.migrate import upgrade
from infrastructure.users import Role, create_user


def run() -> list[Result]:
    n_trades = scaled(1_000_000, 10_000)
    root = Path(tempfile.mkdtemp(prefix="btl-bench-sqlite-"))
    url = f"sqlite:///{root / 'ledger.sqlite3'}"
    engine = create_engine(url)
    upgrade(engine)
    with write_transaction(engine) as conn:
        user, api_key = create_user(conn, "bench", Role.USER)
    backtest_id = record_backtest(engine, user, big_submission(n_trades), []).recorded.backtest_id
    engine.dispose()
    with served(url) as (base, pid), PeakRss(pid) as rss:
        seconds = download_trades_csv(base, api_key, backtest_id).seconds
    return [
        limit(f"SQLite trades.csv of {n_trades:,} trades: RSS growth", rss.growth_mb, "MB", 100.0,
              f"{n_trades / seconds:,.0f} rows/s from the stored parts"),
    ]  # fmt: skip
