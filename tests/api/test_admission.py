"""Large records are admitted within a worker's budget of body bytes: one more waits,
then is a 503 with Retry-After, its body unread, while the service stays healthy; and
on SQLite a write that waits too long for another's lock is answered busy, not as an
outage."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from infrastructure.database import create_engine
from infrastructure.migrate import upgrade
from infrastructure.settings import Settings
from tests.api.conftest import make_keys
from tests.factories import backtest_document
from tests.server_process import CLI, Server

DAYS = 2_000  # a body of about 100 KB


def _body(seed: int) -> bytes:
    return json.dumps(backtest_document(days=DAYS, seed=seed)).encode()


@pytest.fixture
def budgeted(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    size = len(_body(0))
    server = Server(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "server.log",
                    workers=1, BACKTEST_LEDGER_STATE_DIR=str(tmp_path),
                    BACKTEST_LEDGER_RECORD_BUDGET_BYTES=str(int(size * 1.5)),
                    BACKTEST_LEDGER_ADMISSION_WAIT_S="0.5")  # fmt: skip
    server.start()
    printed = subprocess.run([CLI, "users", "create", "alice"], env=server.env,
                             capture_output=True, text=True, check=True)  # fmt: skip
    try:
        yield server, printed.stdout.split()[-1]
    finally:
        server.stop()


def test_a_record_past_the_budget_is_a_503_while_another_is_read(
    budgeted: tuple[Server, str],
) -> None:
    server, key = budgeted
    first, second = _body(1), _body(2)
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as held:
        held.sendall(b"POST /api/v1/backtests HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nAuthorization: Bearer " + key.encode()
                     + b"\r\nContent-Length: " + str(len(first)).encode() + b"\r\n\r\n"
                     + first[: len(first) // 2])  # fmt: skip
        time.sleep(0.3)  # the first holds its share of the budget, half its body read
        refused = httpx.post(f"{server.base}/api/v1/backtests", content=second, headers=auth,
                             timeout=30)  # fmt: skip
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "5" and "busy" in refused.json()["detail"]
        assert httpx.get(f"{server.base}/health", timeout=5).json()["database"] == "up"
        held.sendall(first[len(first) // 2 :])
        assert held.recv(4096).startswith(b"HTTP/1.1 201")
    again = httpx.post(f"{server.base}/api/v1/backtests", content=second, headers=auth,
                       timeout=30)  # fmt: skip
    assert again.status_code == 201
    listed = httpx.get(f"{server.base}/api/v1/backtests", headers=auth, timeout=5).json()
    assert len(listed["items"]) == 2


def test_a_write_waiting_past_the_busy_timeout_on_sqlite_is_busy_not_down(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    settings = Settings(database_url=f"sqlite:///{path}", state_dir=str(tmp_path),
                        busy_timeout_s=0.5)  # fmt: skip
    engine = create_engine(settings.database_url)
    upgrade(engine)
    keys = make_keys(engine)
    engine.dispose()
    with TestClient(app=create_app(settings)) as client:
        auth = {"Authorization": f"Bearer {keys['alice']}"}
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process's write, holding the lock
        try:
            busy = client.post("/api/v1/backtests", content=_body(3),
                               headers={**auth, "Content-Type": "application/json"})  # fmt: skip
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert "busy" in busy.json()["detail"]
            health = client.get("/health")
            assert health.status_code == 200 and health.json()["database"] == "up"
        finally:
            other.execute("ROLLBACK")
            other.close()
        recorded = client.post("/api/v1/backtests", content=_body(3),
                               headers={**auth, "Content-Type": "application/json"})  # fmt: skip
        assert recorded.status_code == 201
