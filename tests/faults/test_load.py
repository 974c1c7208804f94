"""32 concurrent clients recording, listing, downloading and deleting against
``serve --workers 2`` on PostgreSQL: no 5xx, no lost or duplicated event, and the
log and read models verify. Prints requests/s and p50/p99 latency."""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from infrastructure.audit import verify_log
from projections.rebuild import verify
from tests.api.conftest import make_keys
from tests.factories import backtest_document, body
from tests.server_process import Server

CLIENTS = 32
# Long enough for every kind of request to race every other; the throughput figure is
# the bench's business (BACKTEST_LEDGER_LOAD_SECONDS=60 for a longer soak).
SECONDS = float(os.environ.get("BACKTEST_LEDGER_LOAD_SECONDS", "3"))


@pytest.mark.slow
def test_load_with_32_clients(
    pg_engine: sa.Engine, postgres_schema_url: str, tmp_path: Path
) -> None:
    keys = make_keys(pg_engine)
    server = Server(postgres_schema_url, tmp_path / "server.log", workers=2)
    server.start()
    payloads = [body(backtest_document(days=250, trades=20, seed=s)) for s in range(8)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    created, deleted = [0], [0]
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def client(seed: int) -> None:
        rng = random.Random(seed)
        who = "alice" if seed % 2 else "bob"
        headers = {"Authorization": f"Bearer {keys[who]}", "Content-Type": "application/json"}
        mine: list[str] = []
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
            while time.monotonic() < deadline:
                roll = rng.random()
                started = time.perf_counter()
                if roll < 0.35 or not mine:
                    response = http.post("/api/v1/backtests", content=rng.choice(payloads))
                    if response.status_code == 201:
                        mine.append(response.json()["backtest_id"])
                elif roll < 0.7:
                    response = http.get("/api/v1/backtests", params={"limit": 50})
                elif roll < 0.9:
                    response = http.get(f"/api/v1/backtests/{rng.choice(mine)}/daily.csv")
                else:
                    response = http.delete(f"/api/v1/backtests/{mine.pop()}")
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    created[0] += response.status_code == 201
                    deleted[0] += response.status_code == 204

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    server.stop()

    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"\nload: {len(latencies)} requests in {wall:.1f} s = {len(latencies) / wall:.0f} req/s, "
        f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, statuses {statuses}"
    )
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 201, 204}, statuses
    with pg_engine.connect() as conn:
        counts = dict(
            conn.execute(sa.text("SELECT event_type, count(*) FROM events GROUP BY 1")).all()
        )
    assert counts.get("BacktestRecorded", 0) == created[0]
    assert counts.get("BacktestDeleted", 0) == deleted[0]
    assert verify(pg_engine).ok
    assert verify_log(pg_engine).ok
    log = (tmp_path / "server.log").read_text()
    assert "GET /api/v1/backtests" in log  # the access log was written ...
    assert not [k for k in keys.values() if k in log]  # ... and holds no API key
