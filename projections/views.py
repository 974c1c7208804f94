"""The shapes read models are served in (API responses and the CLI's ``--json``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from domain.metrics import Metrics
from domain.results import DailyResult, MonthlyResult, Trade


class BacktestSummary(msgspec.Struct, frozen=True):
    """One item of the list: a backtest and its computed metrics."""

    backtest_id: str
    symbol: str
    interval: str
    strategy: str
    test_mode: str
    market_type: str
    start_date: dt.date
    end_date: dt.date
    created_at: dt.datetime
    position: int
    metrics: Metrics


class BacktestPage(msgspec.Struct, frozen=True):
    items: list[BacktestSummary]
    next_cursor: str | None


class BacktestDetail(msgspec.Struct, frozen=True):
    """Everything needed to render one backtest."""

    backtest_id: str
    symbol: str
    interval: str
    strategy: str
    test_mode: str
    market_type: str
    start_date: dt.date
    end_date: dt.date
    created_at: dt.datetime
    position: int
    metrics: Metrics
    parameters: dict[str, Any]
    initial_capital: float
    periods_per_year: int
    reported_metrics: dict[str, float | None] | None
    sanitized_fields: list[str]
    daily_results: list[DailyResult]
    monthly_results: list[MonthlyResult]
    trades: list[Trade]
