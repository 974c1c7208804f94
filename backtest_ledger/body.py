"""The POST body of a backtest, built from pandas objects.

Every number goes through ``number``: numpy scalars become Python floats and NaN or
±inf become null (never 0.0, which would be a value). Trade times without a timezone
are taken as UTC; times with one are converted to UTC. Bars are daily: a row's date
is its bar's calendar date in the index's own timezone.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

TRADE_FIELDS = ("entry_time", "exit_time", "side", "entry_price", "exit_price", "quantity",
                "pnl", "return", "fees")  # fmt: skip
REQUIRED_TRADE_FIELDS = TRADE_FIELDS[:7]


def number(value: Any) -> float | None:
    """A JSON number, or None for a missing or non-finite one."""
    if value is None or value is pd.NaT:
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def utc(value: Any) -> pd.Timestamp:
    """A time as a UTC instant: a naive one is taken as UTC."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def instant(value: Any) -> str:
    return utc(value).isoformat()


def plain(value: Any) -> Any:
    """Parameters as JSON values: numpy scalars unwrapped, NaN as null, tuples and sets
    as lists, times as ISO text, anything else by its ``str``."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return number(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime | pd.Timestamp):
        return instant(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _dates(index: pd.Index) -> list[str]:
    """Each daily bar's date, in the index's own timezone (a bar of 2 January at
    midnight in New York is 2 January's session, though 05:00 in UTC)."""
    if not isinstance(index, pd.DatetimeIndex):
        index = pd.DatetimeIndex(index)
    if (index != index.normalize()).any():
        raise ValueError(
            "the series has bars within a day: the ledger records daily bars "
            "(resample, e.g. series.resample('1D').last().dropna())"
        )
    return [stamp.date().isoformat() for stamp in index]


def daily_rows(
    equity: pd.Series | None, returns: pd.Series | None, initial_capital: float
) -> list[dict[str, Any]]:
    """``daily_results`` from an equity curve, or from returns (the equity then
    compounds them from ``initial_capital``, a null return counting as none)."""
    if (equity is None) == (returns is None):
        raise ValueError("give either equity or returns")
    series = equity if equity is not None else returns
    assert series is not None
    if series.empty:
        raise ValueError("the series is empty")
    dates = _dates(series.index)
    infinite = np.isinf(series.to_numpy(dtype=float, na_value=np.nan))
    if infinite.any():
        label = series.index[int(np.argmax(infinite))]
        name = "equity" if equity is not None else "returns"
        raise ValueError(
            f"{name} at {label} is {series[label]}: give a finite value, or NaN "
            "for none (an infinite one would make every later equity unknown)"
        )
    if equity is not None:
        return [{"date": d, "equity": number(v)} for d, v in zip(dates, equity, strict=True)]
    assert returns is not None
    values = returns.astype(float)
    if values.isna().all():  # no return at all: no equity, rather than a flat one
        return [{"date": d, "equity": None, "return": None} for d in dates]
    growth = (1.0 + values.fillna(0.0)).cumprod() * initial_capital
    return [
        {"date": d, "equity": number(e), "return": number(r)}
        for d, e, r in zip(dates, growth, returns, strict=True)
    ]


def trade_rows(
    trades: pd.DataFrame | None, columns: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """``trades`` from a DataFrame whose columns are named as the ledger names them, or
    renamed by ``columns`` (library name → ledger name). A ``size`` column instead of
    ``side`` and ``quantity`` gives the side by its sign and the quantity by its size."""
    if trades is None or len(trades) == 0:
        return []
    frame = trades.rename(columns=dict(columns or {}))
    if "side" not in frame and "size" in frame:
        size = frame["size"].astype(float)
        frame = frame.assign(side=np.where(size < 0, "short", "long"), quantity=size.abs())
    missing = [name for name in REQUIRED_TRADE_FIELDS if name not in frame]
    if missing:
        raise ValueError(f"the trades lack the columns {missing} (map yours with trade_columns=)")
    rows = []
    for record in frame.to_dict("records"):
        row: dict[str, Any] = {
            "entry_time": instant(record["entry_time"]),
            "exit_time": instant(record["exit_time"]),
            "side": str(record["side"]).lower(),
        }
        for name in ("entry_price", "exit_price", "quantity", "pnl", "return", "fees"):
            if name in record:
                row[name] = number(record[name])
        rows.append(row)
    return rows


def backtest_body(
    *,
    symbol: str,
    strategy: str,
    equity: pd.Series | None = None,
    returns: pd.Series | None = None,
    initial_capital: float | None = None,
    trades: pd.DataFrame | None = None,
    trade_columns: Mapping[str, str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    interval: str = "1d",
    periods_per_year: int | None = None,
    experiment: str | None = None,
    test_mode: str = "backtest",
    market_type: str = "spot",
    metrics: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The POST body of one backtest. ``initial_capital`` defaults to the first equity
    (with ``returns``: 1.0). ``periods_per_year`` is sent only when given: the service
    infers it from the rows' spacing otherwise (252 for weekday daily bars, 365 with
    weekend rows, 52 weekly, 12 monthly, 365 × bars a day for markets open every day),
    and refuses a series whose spacing does not tell it, naming the field."""
    if initial_capital is None:
        initial_capital = 1.0 if equity is None else number(equity.iloc[0]) or 0.0
    body: dict[str, Any] = {
        "symbol": symbol,
        "interval": interval,
        "strategy": strategy,
        "test_mode": test_mode,
        "market_type": market_type,
        "initial_capital": number(initial_capital),
        "parameters": plain(parameters or {}),
        "daily_results": daily_rows(equity, returns, float(initial_capital)),
        "trades": trade_rows(trades, trade_columns),
    }
    if periods_per_year is not None:
        body["periods_per_year"] = int(periods_per_year)
    if experiment is not None:
        body["experiment"] = experiment
    if metrics is not None:
        body["metrics"] = {str(k): number(v) for k, v in metrics.items()}
    return body
