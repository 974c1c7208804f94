"""Retries against a served ledger: a record whose answer is lost after the server
committed is sent again with the same Idempotency-Key and recorded once; a URL where
nothing listens is a ServiceUnavailable at once, and a ledger that answered and went
away one once the retries, each logged, are spent."""

from __future__ import annotations

import email.utils
import http.server
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from backtest_ledger import Ledger, RetryPolicy, ServiceUnavailable
from backtest_ledger.transport import retry_after
from tests.api.conftest import make_keys
from tests.client.conftest import QUICK
from tests.client.dropping_proxy import DroppingProxy
from tests.factories import backtest_document
from tests.server_process import Server, free_port


@pytest.fixture
def served(
    engine: sa.Engine, database_url: str, tmp_path: Path
) -> Iterator[tuple[Server, dict[str, str]]]:
    keys = make_keys(engine)
    server = Server(database_url, tmp_path / "server.log", workers=1)
    server.start()
    try:
        yield server, keys
    finally:
        server.stop()


def test_a_record_whose_answer_was_lost_is_retried_and_recorded_once(
    served: tuple[Server, dict[str, str]], engine: sa.Engine
) -> None:
    import pandas as pd

    server, keys = served
    proxy = DroppingProxy(server.port, b"POST /api/v1/backtests", drops=1)
    doc = backtest_document(days=40)
    equity = pd.Series([d["equity"] for d in doc["daily_results"]],
                       index=pd.to_datetime([d["date"] for d in doc["daily_results"]]))  # fmt: skip
    try:
        with Ledger(f"http://127.0.0.1:{proxy.port}", keys["alice"], retry=QUICK) as ledger:
            backtest_id = ledger.record(symbol="SPX", strategy="sma", equity=equity,
                                        initial_capital=10_000.0)  # fmt: skip
    finally:
        proxy.close()
    assert proxy.dropped == [b"HTTP/1.1 201 Created"]  # the server had recorded it
    with engine.connect() as conn:
        streams = conn.execute(sa.text("SELECT stream_id FROM events")).scalars().all()
    assert streams == [backtest_id]  # once, and the id the retry was answered with


def test_nothing_listening_is_an_error_at_once_naming_the_url() -> None:
    """Issue 31: a wrong URL cost 10.9 s of silent retries."""
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with (
        Ledger(f"http://127.0.0.1:{port}", "key") as ledger,
        pytest.raises(ServiceUnavailable, match=f"nothing answers at http://127.0.0.1:{port}"),
    ):
        ledger.get("00000000-0000-0000-0000-000000000000")
    assert time.monotonic() - started < 2  # one attempt: the default policy waits 0.5 s+


def test_a_ledger_that_answered_and_went_away_is_retried_with_a_warning_each_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Answers(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    policy = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)
    with Ledger(base, "key", retry=policy) as ledger:
        assert ledger.transport.send("GET", "/health").json() == {}
        server.shutdown()
        server.server_close()  # a restart: the port refuses now
        ledger.transport.client.close()
        ledger.transport.client = httpx.Client(base_url=base)
        with (
            caplog.at_level(logging.WARNING, logger="backtest_ledger"),
            pytest.raises(ServiceUnavailable, match="gave up after 3 attempts: ConnectError"),
        ):
            ledger.transport.send("GET", "/health")
    retries = [r.getMessage() for r in caplog.records if r.name == "backtest_ledger"]
    assert len(retries) == 2 and all("GET /health: ConnectError" in m for m in retries)
    assert "retry 1 of 2" in retries[0] and "retry 2 of 2" in retries[1]


def test_an_empty_api_key_is_an_error_not_the_environments() -> None:
    with pytest.raises(ValueError, match="api_key is empty"):
        Ledger("http://127.0.0.1:1", "")


def test_the_wait_is_jittered_under_its_ceiling_and_never_under_retry_after() -> None:
    policy = RetryPolicy(backoff=0.5, max_backoff=4.0)
    waits = [policy.delay(3, None) for _ in range(200)]
    assert all(0 <= w <= 4.0 for w in waits) and len(set(waits)) > 100  # 0.5·2³ capped at 4
    assert all(policy.delay(0, 7.0) == 7.0 for _ in range(20))  # Retry-After: 7 wins
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after(httpx.Response(503, headers={"Retry-After": later})) < 31  # type: ignore[operator]
    assert retry_after(httpx.Response(429, headers={"Retry-After": "12"})) == 12.0
    assert retry_after(httpx.Response(503)) is None
