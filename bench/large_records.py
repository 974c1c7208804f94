"""Recording one very long backtest over HTTP (100,000 and 1,000,000 daily rows): its
time beside plain psycopg writing the same rows, and the server's peak resident
memory beside the body's size (at most 8×)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx

from bench.harness import Result, at_most, result, scaled
from tests.factories import backtest_document, body

MOST_BODIES = 8.0
DAYS: tuple[int, ...] = ()


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def run(url: str, api_key: str, base: str, pid: int) -> list[Result]:
    from bench.record_and_export import raw_record_seconds

    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    results: list[Result] = []
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        warm = client.post("/api/v1/backtests", content=body(backtest_document(days=1000)))
        assert warm.status_code == 201, warm.text
        for days in DAYS or (scaled(100_000, 10_000), scaled(1_000_000, 20_000)):
            doc = backtest_document(days=days, trades=days // 100, start=dt.date(1, 1, 1))
            payload = body(doc)
            del doc
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak starts again here
            before = _status(pid, "VmRSS")
            started = time.perf_counter()
            response = client.post("/api/v1/backtests", content=payload)
            seconds = time.perf_counter() - started
            assert response.status_code == 201, response.text[:500]
            growth = _status(pid, "VmHWM") - before
            raw = raw_record_seconds(url, 1, response.json()["backtest_id"])
            mb = len(payload) / 1e6
            name = f"record {days:,} days ({mb:.0f} MB body, HTTP)"
            results += [
                result(name, mb / seconds, "MB/s",
                       "psycopg: same event row + COPY of same read-model rows", mb / raw, 0.5),
                at_most(f"{name} peak RSS", growth / 1e6, "MB",
                        "the body's size (MB)", mb, MOST_BODIES),
            ]  # fmt: skip
            print(f"{name}: {seconds:.1f} s (raw {raw:.1f} s), server peak +{growth / 1e6:.0f} MB")
    return results
