"""The ledger's CSV and Parquet downloads as pandas DataFrames with proper dtypes:
times as ``datetime64[ns, UTC]``, days as ``datetime.date`` (as a Parquet table's
date32 columns read), numbers as float64 with NaN for null."""

from __future__ import annotations

import io
from typing import Final

import pandas as pd

UTC_NS: Final = "datetime64[ns, UTC]"
TIME_COLUMNS = ("date", "time", "entry_time", "exit_time", "created_at",
                "first_recorded_at", "last_recorded_at")  # fmt: skip
DATE_COLUMNS = ("start_date", "end_date")
TEXT_COLUMNS = ("month", "side", "backtest_id", "symbol", "interval", "strategy",
                "test_mode", "market_type", "experiment", "name")  # fmt: skip
INTEGER_COLUMNS = ("trade_no", "num_trades", "position", "live", "trials")


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Times UTC to the nanosecond, days as dates, counts as integers, everything else
    float."""
    for name in frame.columns:
        if name in TIME_COLUMNS:
            frame[name] = pd.to_datetime(frame[name], utc=True).astype(UTC_NS)
        elif name in DATE_COLUMNS:
            frame[name] = pd.to_datetime(frame[name], format="%Y-%m-%d").dt.date
        elif name in TEXT_COLUMNS or name.startswith("param."):
            continue
        elif name in INTEGER_COLUMNS and not frame[name].isna().any():
            frame[name] = frame[name].astype("int64")
        else:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def csv_frame(content: bytes) -> pd.DataFrame:
    """A downloaded CSV (empty cells are null) as a typed DataFrame."""
    text_columns = {name: "string" for name in TEXT_COLUMNS}
    return typed(pd.read_csv(io.BytesIO(content), dtype=text_columns, keep_default_na=True))


def parquet_frame(content: bytes) -> pd.DataFrame:
    """A downloaded Parquet table as a DataFrame (its own types; times UTC, ns)."""
    frame = pd.read_parquet(io.BytesIO(content))
    for name in frame.columns:
        if name in TIME_COLUMNS:
            frame[name] = pd.to_datetime(frame[name], utc=True).astype(UTC_NS)
    return frame
