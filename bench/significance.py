"""The significance report on ten years of daily returns with 10,000 resamples."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import numpy as np
from arch.bootstrap import StationaryBootstrap

from bench.harness import Result, limit, result, scaled
from tests.factories import backtest_document, body


def run(base: str, api_key: str) -> list[Result]:
    samples = scaled(10_000, 500)
    doc = backtest_document(days=2520, trades=10, seed=11, start=dt.date(2010, 1, 1))
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        backtest_id = client.post("/api/v1/backtests", content=body(doc)).json()["backtest_id"]
        url = f"/api/v1/backtests/{backtest_id}/significance"
        client.get(url, params={"samples": 100})  # warm up
        started = time.perf_counter()
        report = client.get(url, params={"samples": samples}).json()
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        client.get(url, params={"samples": samples})  # the same inputs: read back
        again = time.perf_counter() - started
    returns = np.array([d["equity"] for d in doc["daily_results"]])
    returns = np.diff(returns) / returns[:-1]
    started = time.perf_counter()
    StationaryBootstrap(report["block_length"], returns, seed=0).apply(
        lambda x: np.array([x.mean(), x.mean() / x.std(ddof=1)]), samples
    )
    raw = time.perf_counter() - started
    return [
        result(f"significance, 2,520 returns, {samples:,} resamples", 1 / seconds, "reports/s",
               "arch StationaryBootstrap.apply of mean and Sharpe alone", 1 / raw, 0.5),
        limit("significance report latency", seconds, "s", 2.0, "whole HTTP request"),
        limit("significance report read back", again, "s", 0.05, "the same request again"),
    ]  # fmt: skip
