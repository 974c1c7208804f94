"""The POST body of a backtest, built from pandas objects.

Every number goes through ``number``: numpy scalars become Python floats and NaN or
±inf become null (never 0.0, which would be a value). Trade times without a timezone
are taken as UTC; times with one are converted to UTC. A row is keyed by its bar's
calendar date in the index's own timezone when no two bars share a date, else by its
UTC time.
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


def _keys(index: pd.Index) -> tuple[str, list[str]]:
    """Each bar's key: its calendar date in the index's own timezone when no two bars
    share a date (daily bars and longer, whatever time of day they are stamped at: 16:00
    in New York, or New York's midnight as 05:00 UTC), else its UTC time ("time")."""
    if not isinstance(index, pd.DatetimeIndex):
        if pd.api.types.is_numeric_dtype(index):  # numbers are positions, not dates
            raise TypeError(f"the series' index holds {index.dtype} values, not dates or "
                            "times: give it a DatetimeIndex")  # fmt: skip
        index = pd.DatetimeIndex(index)
    wall = index.tz_localize(None) if index.tz is not None else index
    days = np.datetime_as_string(wall.values, unit="D")  # in C: a million bars in 0.1 s
    if len(np.unique(days)) == len(days):
        return "date", days.tolist()
    utc = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
    whole_seconds = (utc.values.astype("datetime64[s]") == utc.values).all()
    stamps = np.datetime_as_string(utc.values, unit="s" if whole_seconds else "us")
    return "time", [stamp + "Z" for stamp in stamps]


def as_series(value: Any, name: str) -> pd.Series | None:
    """``value`` as the Series it must be: a DataFrame of one column is that column;
    anything else is a TypeError naming the argument (a DataFrame passed whole failed
    deep in a conversion, naming neither)."""
    if value is None or isinstance(value, pd.Series):
        return value
    if isinstance(value, pd.DataFrame):
        if value.shape[1] == 1:
            return value.iloc[:, 0]
        columns = ", ".join(map(str, value.columns[:5]))
        raise TypeError(f"{name} must be a pandas Series (or a DataFrame of one column), "
                        f"not a DataFrame of {value.shape[1]} columns ({columns})")  # fmt: skip
    raise TypeError(f"{name} must be a pandas Series on a DatetimeIndex, "
                    f"not {type(value).__module__}.{type(value).__qualname__}")  # fmt: skip


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
    key, dates = _keys(series.index)
    infinite = np.isinf(series.to_numpy(dtype=float, na_value=np.nan))
    if infinite.any():
        at = int(np.argmax(infinite))
        name = "equity" if equity is not None else "returns"
        raise ValueError(
            f"{name} at {series.index[at]} is {series.iloc[at]}: give a finite value, or "
            "NaN for none (an infinite one would make every later equity unknown)"
        )
    if equity is not None:
        return [{key: d, "equity": number(v)} for d, v in zip(dates, equity, strict=True)]
    assert returns is not None
    values = returns.astype(float)
    ruinous = values < -1.0
    if ruinous.any():
        at = int(np.argmax(ruinous.to_numpy()))
        raise ValueError(f"returns at {values.index[at]} is {values.iloc[at]:g}, a loss of "
                         "more than everything: are these percentages? Give fractions "
                         "(divide by 100)")  # fmt: skip
    if values.isna().all():  # no return at all: no equity, rather than a flat one
        return [{key: d, "equity": None, "return": None} for d in dates]
    growth = (1.0 + values.fillna(0.0)).cumprod() * initial_capital
    return [
        {key: d, "equity": number(e), "return": number(r)}
        for d, e, r in zip(dates, growth, returns, strict=True)
    ]


def benchmark_column(benchmark: Any, series: pd.Series) -> list[float | None]:
    """The benchmark's return on each bar of ``series``: a Series (or a DataFrame of one
    column) on the same times, NaN where it has none. A bar it lacks is an error naming
    the bar, since a benchmark shifted by a day would compare every return with the
    wrong one."""
    given = as_series(benchmark, "benchmark")
    assert given is not None
    if given.index.has_duplicates:
        at = given.index[given.index.duplicated()][0]
        raise ValueError(f"the benchmark has two values for {at}")
    absent = ~series.index.isin(given.index)
    if absent.any():
        at = series.index[int(np.argmax(absent))]
        raise ValueError(f"the benchmark has no value for {at}, a bar of the backtest: "
                         "give it on the backtest's index (NaN where it has none)")  # fmt: skip
    return [number(v) for v in given.reindex(series.index).to_numpy(dtype=float, na_value=np.nan)]


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
    equity: pd.Series | pd.DataFrame | None = None,
    returns: pd.Series | pd.DataFrame | None = None,
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
    provenance: Mapping[str, Any] | None = None,
    benchmark: pd.Series | pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The POST body of one backtest. ``initial_capital`` defaults to the first finite
    equity (with ``returns``: 1.0). ``periods_per_year`` is sent only when given: the service
    infers it from the rows' spacing otherwise (252 for weekday daily bars, 365 with
    weekend rows, 52 weekly, 12 monthly, 365 × bars a day for markets open every day),
    and refuses a series whose spacing does not tell it, naming the field.
    ``benchmark``: the benchmark's returns on the same bars (``benchmark_column``)."""
    equity, returns = as_series(equity, "equity"), as_series(returns, "returns")
    if initial_capital is None and equity is not None:
        finite = equity[np.isfinite(equity.to_numpy(dtype=float, na_value=np.nan))]
        if finite.empty:
            raise ValueError("equity has no finite value to start from: give initial_capital=")
        initial_capital = float(finite.iloc[0])  # a curve may start with NaN (a warm-up)
    elif initial_capital is None:
        initial_capital = 1.0
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
    if benchmark is not None:
        series = equity if equity is not None else returns
        assert series is not None
        for row, value in zip(body["daily_results"], benchmark_column(benchmark, series),
                              strict=True):  # fmt: skip
            row["benchmark_return"] = value
    if periods_per_year is not None:
        body["periods_per_year"] = int(periods_per_year)
    if experiment is not None:
        body["experiment"] = experiment
    if metrics is not None:
        body["metrics"] = {str(k): number(v) for k, v in metrics.items()}
    if provenance is not None:
        body["provenance"] = plain(provenance)
    return body
