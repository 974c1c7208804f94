"""Nothing acknowledged is lost: records and deletes stream in, the server is killed
with SIGKILL, and after a restart every 2xx is in the log and the read models, and
nothing is half-applied (both stores)."""

from __future__ import annotations

import random
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


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill(
    engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    keys = make_keys(engine)
    server = Server(database_url, tmp_path / "server.log")
    server.start()
    recorded: list[str] = []
    deleted: list[str] = []
    stop = threading.Event()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        headers = {"Authorization": f"Bearer {keys['alice']}", "Content-Type": "application/json"}
        mine: list[str] = []
        with httpx.Client(base_url=server.base, headers=headers, timeout=10) as http:
            while not stop.is_set():
                try:
                    if mine and rng.random() < 0.3:
                        victim = mine.pop(rng.randrange(len(mine)))
                        if http.delete(f"/api/v1/backtests/{victim}").status_code == 204:
                            deleted.append(victim)
                    else:
                        doc = backtest_document(
                            days=rng.randint(20, 300), seed=rng.randint(0, 9999)
                        )
                        response = http.post("/api/v1/backtests", content=body(doc))
                        if response.status_code == 201:
                            mine.append(response.json()["backtest_id"])
                            recorded.append(mine[-1])
                except httpx.TransportError:
                    return  # the server is gone: this request was never acknowledged

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    time.sleep(2.5)
    server.kill()
    stop.set()
    for t in threads:
        t.join()
    assert len(recorded) > 10, "too little traffic before the kill to prove anything"

    server.workers = 1  # one new process on the same database is enough to come up clean
    server.start()
    try:
        health = httpx.get(f"{server.base}/health", timeout=10)
        assert health.status_code == 200
    finally:
        server.stop()
    with engine.connect() as conn:
        logged = {
            kind: set(conn.execute(
                sa.text("SELECT stream_id FROM events WHERE event_type = :t"), {"t": kind}
            ).scalars())
            for kind in ("BacktestRecorded", "BacktestDeleted")
        }  # fmt: skip
        live = set(conn.execute(
            sa.text("SELECT backtest_id FROM backtests WHERE deleted_position IS NULL")
        ).scalars())  # fmt: skip
    assert set(recorded) <= logged["BacktestRecorded"], "an acknowledged record was lost"
    assert set(deleted) <= logged["BacktestDeleted"], "an acknowledged delete was lost"
    assert live == logged["BacktestRecorded"] - logged["BacktestDeleted"]
    assert verify(engine).ok, "a request was half-applied: read models and log disagree"
    assert verify_log(engine).ok
