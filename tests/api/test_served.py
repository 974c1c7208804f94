"""The production server (``backtest-ledger serve --workers 2``) on a real port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.api.conftest import make_keys
from tests.factories import backtest_document, body

CLI = str(Path(sys.executable).parent / "backtest-ledger")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(
    engine: sa.Engine, database_url: str, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    keys = make_keys(engine)
    port = free_port()
    env = dict(os.environ, BACKTEST_LEDGER_DATABASE_URL=database_url)
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [CLI, "serve", "--port", str(port), "--workers", "2"],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield base, keys
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_eight_racing_posts_with_one_key_append_one_event(
    served: tuple[str, dict[str, str]], engine: sa.Engine
) -> None:
    base, keys = served
    payload = body(backtest_document(days=200, trades=20))
    headers = {
        "Authorization": f"Bearer {keys['alice']}",
        "Content-Type": "application/json",
        "Idempotency-Key": "race-1",
    }
    barrier = threading.Barrier(8)
    answers: list[httpx.Response] = []

    def post() -> None:
        barrier.wait()
        answers.append(httpx.post(f"{base}/api/v1/backtests", content=payload,
                                  headers=headers, timeout=60))  # fmt: skip

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [201] * 8, [r.text for r in answers]
    assert len({r.json()["backtest_id"] for r in answers}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in answers) == 7
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one() == 1


def test_the_docs_work_with_no_internet(served: tuple[str, dict[str, str]]) -> None:
    base, _ = served
    page = httpx.get(f"{base}/schema/swagger", timeout=10)
    assert page.status_code == 200

    urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert urls and all(u.startswith("/schema/assets/") for u in urls), urls
    for url in urls:
        assert httpx.get(f"{base}{url}", timeout=10).status_code == 200, url
    spec = httpx.get(f"{base}/schema/openapi.json", timeout=10).json()
    operations = {op["operationId"] for item in spec["paths"].values() for op in item.values()}
    assert operations >= {
        "recordBacktest", "listBacktests", "getBacktest", "deleteBacktest",
        "downloadDailyCsv", "downloadMonthlyCsv", "downloadTradesCsv",
        "getBacktestHistory", "readEventFeed", "health",
    }  # fmt: skip
    body_schema = spec["paths"]["/api/v1/backtests"]["post"]["requestBody"]
    ref = body_schema["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "daily_results" in spec["components"]["schemas"][ref]["properties"]
