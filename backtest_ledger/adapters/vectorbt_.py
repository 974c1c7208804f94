"""vectorbt: a ``Portfolio`` of one column.

``value()`` gives the equity (relative to ``init_cash``, as vectorbt's own returns
are), ``trades.records_readable`` the closed trades (open ones are left out, with an
``OpenTradesLeftOut`` warning; ``PnL`` is net of both fees;
``Direction`` the side), vectorbt's annualisation factor the periods per year, and
``benchmark_returns()`` (holding the close) the benchmark.
vectorbt does not keep the name or arguments of the strategy that made the signals:
pass ``strategy=`` and ``parameters=``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from backtest_ledger.adapters.open_trades import warn_of_open_trades
from backtest_ledger.provenance import found_provenance


def vectorbt_fields(portfolio: Any) -> dict[str, Any]:
    value = portfolio.value()
    if isinstance(value, pd.DataFrame):
        raise ValueError("record one column at a time: portfolio[column]")
    records = portfolio.trades.records_readable
    closed = records[records["Status"] == "Closed"]
    warn_of_open_trades(len(records) - len(closed), "vectorbt")
    trades = pd.DataFrame({
        "entry_time": closed["Entry Timestamp"],
        "exit_time": closed["Exit Timestamp"],
        "side": closed["Direction"].str.lower(),
        "entry_price": closed["Avg Entry Price"],
        "exit_price": closed["Avg Exit Price"],
        "quantity": closed["Size"],
        "pnl": closed["PnL"],
        "return": closed["Return"],
        "fees": closed["Entry Fees"] + closed["Exit Fees"],
    })  # fmt: skip
    return {
        "strategy": "vectorbt",
        "equity": value,
        "initial_capital": float(portfolio.init_cash),
        "trades": trades,
        "periods_per_year": round(float(portfolio.returns_acc.ann_factor)),
        # vectorbt's own benchmark: holding what the portfolio traded (its close)
        "benchmark": portfolio.benchmark_returns(),
        "found_provenance": found_provenance("vectorbt", None, portfolio.close),
    }
