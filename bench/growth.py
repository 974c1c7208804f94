"""How recording and exporting time grow with the size of a backtest: each run at
three sizes, doubling; linear growth shows as a time ratio near 2 per doubling."""

from __future__ import annotations

import datetime as dt
import time
from itertools import pairwise

import httpx

from api.handlers import record_backtest
from bench.harness import Result, download_trades_csv, interleaved_medians, scaled, served
from bench.workloads import big_submission
from infrastructure.database import create_engine
from infrastructure.users import user_by_key
from tests.factories import backtest_document, body


def _growth(name: str, unit: str, sizes: list[int], seconds: list[float]) -> list[Result]:
    out = []
    steps = zip(pairwise(sizes), pairwise(seconds), strict=True)
    for (small, big), (t_small, t_big) in steps:
        # sublinear at small sizes is fixed cost (request, query); superlinear is a defect
        ratio = t_big / t_small
        out.append(
            Result(f"{name}: {small:,} -> {big:,} {unit}", t_big, "s", f"{t_small:.3f} s at "
                   f"{small:,}", t_small, ratio, "<= 2.6 (linear)", ratio <= 2.6)
        )  # fmt: skip
    return out


def run(url: str, api_key: str) -> list[Result]:
    with served(url) as (base, _pid):
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        record_sizes = [1260, 2520, 5040]
        with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
            payloads = {
                days: body(backtest_document(days=days, trades=days // 5,
                                             start=dt.date(2000, 1, 1)))
                for days in record_sizes
            }  # fmt: skip

            def record(days: int) -> float:
                started = time.perf_counter()
                assert client.post("/api/v1/backtests", content=payloads[days]).status_code == 201
                return time.perf_counter() - started

            for days in record_sizes:  # warm
                record(days)
            record_seconds = list(interleaved_medians(record_sizes, record).values())

        engine = create_engine(url)
        with engine.connect() as conn:
            user = user_by_key(conn, api_key)
        assert user is not None
        export_sizes = [scaled(250_000, 2500), scaled(500_000, 5000), scaled(1_000_000, 10_000)]
        backtest_ids = {
            n: record_backtest(engine, user, big_submission(n), []).recorded.backtest_id
            for n in export_sizes
        }
        engine.dispose()
        export_seconds = list(
            interleaved_medians(
                export_sizes, lambda n: download_trades_csv(base, api_key, backtest_ids[n]).seconds
            ).values()
        )
    return _growth("record over HTTP", "days", record_sizes, record_seconds) + _growth(
        "trades.csv download", "trades", export_sizes, export_seconds
    )
