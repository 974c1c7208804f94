"""backtrader: a finished strategy, an item of ``cerebro.run()``.

The broker observer (one of Cerebro's default ``stdstats``) gives the account value at
each bar, the strategy's trades their sides, sizes and prices (which a closed trade
keeps only with ``Cerebro(tradehistory=True)``): entry at the trade's average price,
exit at the size-weighted price of the orders that closed it, ``pnl`` net of
commission (``pnlcomm``), ``fees`` the commission, ``return`` the net ``pnl`` over the
capital the entry took (entry price × quantity); trades still open at the end are left
out, with an ``OpenTradesLeftOut`` warning. The strategy's name is its class's,
its parameters its ``params``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from backtest_ledger.adapters.open_trades import warn_of_open_trades
from backtest_ledger.provenance import found_provenance


def _time(number: float) -> dt.datetime:
    import backtrader

    return backtrader.num2date(number)  # type: ignore[no-any-return]


def _trade_row(trade: Any) -> dict[str, Any]:
    history = trade.history
    if not history:
        raise ValueError("backtrader kept no history of its trades: run Cerebro(tradehistory=True)")
    opening = history[0].event.size
    closing = [h.event for h in history if h.event.size * opening < 0]
    closed = sum(-e.size for e in closing)
    row: dict[str, Any] = {
        "entry_time": _time(trade.dtopen),
        "exit_time": _time(trade.dtclose),
        "side": "long" if trade.long else "short",
        "entry_price": history[-1].status.price,
        "exit_price": sum(-e.size * e.price for e in closing) / closed,
        "quantity": max(abs(h.status.size) for h in history),
        "pnl": trade.pnlcomm,
        "fees": trade.commission,
    }
    row["return"] = row["pnl"] / (row["entry_price"] * row["quantity"])
    return row


def backtrader_fields(strategy: Any) -> dict[str, Any]:
    broker = getattr(strategy.observers, "broker", None)
    if broker is None:
        raise ValueError("the strategy has no broker observer: run Cerebro(stdstats=True)")
    bars = len(strategy)
    values = list(broker.lines.value.get(size=bars))
    dates = [_time(x) for x in strategy.datas[0].datetime.get(size=bars)]
    every = [t for by_id in strategy._trades.values() for listed in by_id.values()
             for t in listed]  # fmt: skip
    trades = [t for t in every if t.isclosed]
    warn_of_open_trades(sum(1 for t in every if t.isopen), "backtrader")
    trades.sort(key=lambda t: (t.dtopen, t.ref))
    index = pd.DatetimeIndex(dates)
    close = pd.Series(list(strategy.datas[0].close.get(size=bars)), index=index)
    return {
        "strategy": type(strategy).__name__,
        "parameters": dict(strategy.p._getkwargs()),
        "equity": pd.Series(values, index=index),
        # the first data feed held: the benchmark
        "benchmark": close.pct_change(),
        "initial_capital": float(strategy.broker.startingcash),
        "trades": pd.DataFrame([_trade_row(t) for t in trades]),
        "found_provenance": found_provenance(
            "backtrader", strategy, [_feed(data) for data in strategy.datas]
        ),
    }


def _feed(data: Any) -> pd.DataFrame:
    """A data feed's prices: the DataFrame a ``PandasData`` was given, else its lines
    as loaded (indexed by their times)."""
    given = getattr(data.p, "dataname", None)
    if isinstance(given, pd.DataFrame):
        return given
    bars = len(data)
    names = [name for name in data.lines.getlinealiases() if name != "datetime"]
    times = pd.DatetimeIndex([_time(x) for x in data.datetime.get(size=bars)])
    return pd.DataFrame({name: list(getattr(data.lines, name).get(size=bars))
                         for name in names}, index=times)  # fmt: skip
