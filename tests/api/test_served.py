"""The production server (``backtest-ledger serve --workers 2``) on a real port."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.api.conftest import clear_of_a_new_minute, make_keys
from tests.factories import backtest_document, body
from tests.server_process import Server


@pytest.fixture
def served(
    engine: sa.Engine, database_url: str, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    keys = make_keys(engine)
    server = Server(database_url, tmp_path / "server.log", workers=2)
    server.start()
    try:
        yield server.base, keys
    finally:
        server.stop()


def _race(bases: list[str], keys: dict[str, str], engine: sa.Engine) -> None:
    """Eight POSTs of one body with one Idempotency-Key, at once, spread over ``bases``:
    one event, and every answer names it."""
    payload = body(backtest_document(days=200, trades=20))
    headers = {
        "Authorization": f"Bearer {keys['alice']}",
        "Content-Type": "application/json",
        "Idempotency-Key": "race-1",
    }
    barrier = threading.Barrier(8)
    answers: list[httpx.Response] = []

    def post(base: str) -> None:
        barrier.wait()
        answers.append(httpx.post(f"{base}/api/v1/backtests", content=payload,
                                  headers=headers, timeout=60))  # fmt: skip

    threads = [threading.Thread(target=post, args=(bases[i % len(bases)],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [201] * 8, [r.text for r in answers]
    assert len({r.json()["backtest_id"] for r in answers}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in answers) == 7
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one() == 1


def test_racing_posts_with_one_key_on_two_nodes_append_one_event(
    served: tuple[str, dict[str, str]], engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    """Eight posts of one key at once, over a node of two workers and a second node:
    the workers of one process race each other as the nodes do."""
    base, keys = served
    other = Server(database_url, tmp_path / "other.log", workers=1)  # a second node
    other.start()
    try:
        _race([base, other.base, base, base], keys, engine)
    finally:
        other.stop()


@contextmanager
def two_nodes(database_url: str, tmp_path: Path, **settings: str) -> Iterator[list[Server]]:
    """Two service nodes (one worker each) on one database, with ``settings``."""
    nodes = [Server(database_url, tmp_path / f"node{n}.log", workers=1, **settings)
             for n in range(2)]  # fmt: skip
    for node in nodes:
        node.start()
    try:
        yield nodes
    finally:
        for node in nodes:
            node.stop()


# The nodes exchange counts every 0.05 s; a request waits five exchanges for the other
# node's count to reach it (four exchanges of 0.25 s, the default, took 10 s a test).
SHARING = {"BACKTEST_LEDGER_RATE_SHARE_S": "0.05"}
SHARED_S = 0.25


def test_a_rate_limit_holds_across_two_service_nodes(
    engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    import time

    keys = make_keys(engine)
    with two_nodes(database_url, tmp_path, BACKTEST_LEDGER_RATE_LIMIT="5", **SHARING) as nodes:
        auth = {"Authorization": f"Bearer {keys['alice']}"}
        statuses = []
        clear_of_a_new_minute(8)
        for n in range(10):  # alternating nodes, each told of the other's count since
            answer = httpx.get(f"{nodes[n % 2].base}/api/v1/whoami", headers=auth, timeout=30)
            statuses.append(answer.status_code)
            time.sleep(SHARED_S)
        # Each node counts its first request against the address (the key is not yet
        # known to it there), then the key: five for the key across both, not per node.
        assert statuses == [200] * 7 + [429] * 3, statuses
        assert answer.headers["ratelimit-limit"] == "5" and int(answer.headers["retry-after"]) > 0


def test_wrong_keys_are_counted_across_two_service_nodes(
    engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    import time

    keys = make_keys(engine)
    failures = {"BACKTEST_LEDGER_AUTH_FAILURES_PER_MINUTE": "4", **SHARING}
    with two_nodes(database_url, tmp_path, **failures) as nodes:
        clear_of_a_new_minute(5)
        for n in range(4):  # two wrong keys on each node: neither alone reaches four
            wrong = {"Authorization": f"Bearer btl_guess{n}"}
            assert httpx.get(f"{nodes[n % 2].base}/api/v1/whoami", headers=wrong).status_code == 401
            time.sleep(SHARED_S)
        right = {"Authorization": f"Bearer {keys['alice']}"}
        held = httpx.get(f"{nodes[0].base}/api/v1/whoami", headers=right)
        assert held.status_code == 429 and int(held.headers["retry-after"]) > 0


def test_the_docs_work_with_no_internet(tmp_path: Path) -> None:
    # the docs do not depend on the store: one served process on SQLite
    server = Server(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "server.log", workers=1)
    server.start()
    try:
        _docs_work_offline(server.base)
    finally:
        server.stop()


def _docs_work_offline(base: str) -> None:
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


def test_a_report_nobody_waits_for_stops_and_stores_nothing(
    engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    import time

    keys = make_keys(engine)
    log = tmp_path / "server.log"
    server = Server(database_url, log, workers=1)
    server.start()
    try:
        auth = {"Authorization": f"Bearer {keys['alice']}"}
        recorded = httpx.post(f"{server.base}/api/v1/backtests", timeout=60,
                              content=body(backtest_document(days=500)),
                              headers={**auth, "Content-Type": "application/json"})  # fmt: skip
        backtest_id = recorded.json()["backtest_id"]
        url = f"{server.base}/api/v1/backtests/{backtest_id}/significance"
        small = httpx.get(url, params={"samples": 200}, headers=auth, timeout=60)
        assert small.status_code == 200  # computed (and arch imported) and kept
        # 500 returns x 100,000 resamples: seconds of work; the client leaves at 0.5 s
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(url, params={"samples": 100_000}, headers=auth, timeout=0.5)
        deadline = time.monotonic() + 60
        while "the client went away" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        said = re.search(r"went away, stopped after ([\d,]+) of 100,000 resamples", log.read_text())
        assert said is not None, log.read_text()[-2000:]
        assert 0 < int(said.group(1).replace(",", "")) < 100_000
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM significance_reports"))
            assert stored.scalar_one() == 1  # the small report only
    finally:
        server.stop()


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"], ids=["no-proxy-trusted", "proxy-trusted"])
def test_x_forwarded_proto_is_believed_from_a_trusted_proxy_only(
    database_url: str, tmp_path: Path, trusted: str
) -> None:
    server = Server(database_url, tmp_path / "server.log", workers=1,
                    BACKTEST_LEDGER_TRUSTED_PROXIES=trusted)  # fmt: skip
    server.start()
    try:
        # what a TLS-terminating proxy on this machine forwards
        page = httpx.get(f"{server.base}/signin", headers={"X-Forwarded-Proto": "https"})
        assert page.status_code == 200
        cookie = page.headers["set-cookie"]
        if trusted:
            assert cookie.startswith("__Host-btl_csrf=") and "Secure" in cookie
        else:
            assert cookie.startswith("btl_csrf=") and "Secure" not in cookie
    finally:
        server.stop()
