"""A PostgreSQL outage while clients write and read: fast 503 problems, /health says
the database is down, and the same server process recovers when it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infrastructure.database import create_engine
from infrastructure.migrate import upgrade
from tests.api.conftest import make_keys
from tests.factories import backtest_document, body
from tests.postgres_server import ThrowawayCluster
from tests.server_process import Server

TIMEOUT = 10  # no request may hang longer than this


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    """A PostgreSQL cluster of the test's own, which it may stop and start."""
    own = ThrowawayCluster()
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.mark.slow
def test_an_outage_gives_503_and_the_same_process_recovers(
    cluster: ThrowawayCluster, tmp_path: Path
) -> None:
    url = cluster.url
    engine = create_engine(url)
    upgrade(engine)
    keys = make_keys(engine)
    engine.dispose()
    server = Server(url, tmp_path / "server.log", workers=1)
    server.start()
    headers = {"Authorization": f"Bearer {keys['alice']}", "Content-Type": "application/json"}
    http = httpx.Client(base_url=server.base, headers=headers, timeout=TIMEOUT)
    try:
        assert http.post("/api/v1/backtests", content=body(backtest_document())).status_code == 201
        assert http.get("/api/v1/backtests").status_code == 200
        pid = server.process.pid if server.process else None

        cluster.pause()
        for _ in range(3):
            started = time.monotonic()
            writing = http.post("/api/v1/backtests", content=body(backtest_document()))
            reading = http.get("/api/v1/backtests")
            assert time.monotonic() - started < TIMEOUT
            for response in (writing, reading):
                assert response.status_code == 503, response.text
                assert response.headers["content-type"].startswith("application/problem+json")
                assert "Traceback" not in response.text
        health = http.get("/health")
        assert health.status_code == 503 and health.json()["database"] == "down"

        cluster.resume()
        deadline = time.monotonic() + 30
        while http.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.3)
        recovered = http.post("/api/v1/backtests", content=body(backtest_document(seed=5)))
        assert recovered.status_code == 201
        assert len(http.get("/api/v1/backtests").json()["items"]) == 2
        assert server.process is not None and server.process.pid == pid  # no restart
    finally:
        http.close()
        server.stop()
