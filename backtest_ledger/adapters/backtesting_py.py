"""backtesting.py: the ``stats`` Series of ``Backtest.run()``.

Its ``_equity_curve`` gives the equity (the first bar's equity is the cash it started
with, which is what backtesting.py's own returns are relative to), ``_trades`` the
trades (``PnL`` is net of ``Commission``; the side is the sign of ``Size``),
``_strategy`` the strategy's class name and its parameters (the class attributes it
declares, as the run set them)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from backtest_ledger.provenance import found_provenance


def strategy_parameters(strategy: Any) -> dict[str, Any]:
    """What a backtesting.py strategy class declares (public, not callable), with the
    values of this run."""
    names: list[str] = []
    for cls in type(strategy).__mro__:
        if cls.__name__ == "Strategy" and cls.__module__.startswith("backtesting"):
            break
        names += [name for name, value in vars(cls).items()
                  if not name.startswith("_") and not callable(value)
                  and not isinstance(value, property | classmethod | staticmethod)]  # fmt: skip
    return {name: getattr(strategy, name) for name in dict.fromkeys(names)}


def periods_per_year(index: pd.DatetimeIndex) -> int:
    """backtesting.py's own rule for daily bars: 365 when weekends trade, else 252."""
    weekends = index.day_of_week.to_series().between(5, 6).mean() > 2 / 7 * 0.6
    return 365 if weekends else 252


def buy_and_hold(data: pd.DataFrame, equity: pd.Series, strategy: Any) -> pd.Series:
    """Holding the data's Close from the first bar the strategy could trade (after its
    indicators' warm-up), as backtesting.py's ``Buy & Hold Return`` does: a return per
    bar of the equity curve, null before."""
    returns = data["Close"].pct_change().reindex(equity.index)
    returns.iloc[: warmup_bars(strategy) + 1] = float("nan")
    return returns


def warmup_bars(strategy: Any) -> int:
    """The bars before the strategy's indicators are all known, by backtesting.py's own
    count (0 when this release of it has none to ask)."""
    try:
        from backtesting._util import _indicator_warmup_nbars
    except ImportError:
        return 0
    return int(_indicator_warmup_nbars(strategy))


def backtesting_fields(stats: pd.Series, backtest: Any = None) -> dict[str, Any]:
    equity = stats["_equity_curve"]["Equity"]
    trades = stats["_trades"]
    frame = pd.DataFrame({
        "entry_time": trades["EntryTime"],
        "exit_time": trades["ExitTime"],
        "size": trades["Size"],
        "entry_price": trades["EntryPrice"],
        "exit_price": trades["ExitPrice"],
        "pnl": trades["PnL"],
        "return": trades["ReturnPct"],
        **({"fees": trades["Commission"]} if "Commission" in trades else {}),
    })  # fmt: skip
    strategy = stats["_strategy"]
    return {
        "strategy": type(strategy).__name__,
        "parameters": strategy_parameters(strategy),
        "equity": equity,
        "initial_capital": float(equity.iloc[0]),
        "trades": frame,
        "periods_per_year": periods_per_year(pd.DatetimeIndex(equity.index)),
        **(
            {}
            if backtest is None
            else {"benchmark": buy_and_hold(backtest._data, equity, strategy)}
        ),
        "found_provenance": found_provenance(
            "backtesting", strategy, None if backtest is None else backtest._data
        ),
    }
