"""Reads from a real hot standby (``pg_basebackup -R`` of a real primary): a read with
the token of a write never misses it, even with replay paused; without the token the
same read is stale, and says so; a standby that stops, or a primary that stops, costs
no read; the feed read on the standby skips nothing while writers append."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from litestar.testing import TestClient

from api.app import create_app
from infrastructure.database import create_engine
from infrastructure.migrate import upgrade
from infrastructure.replicas import RETRY_S
from infrastructure.settings import Settings
from tests.api.conftest import make_keys
from tests.contract.test_no_skipped_events import readers_see_every_event_once
from tests.factories import backtest_document, body
from tests.postgres_server import libpq_dsn
from tests.replication import ReplicatedPair
from tests.server_process import Server


@dataclass
class Site:
    pair: ReplicatedPair
    primary: str
    standby: str
    keys: dict[str, str]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    pair = ReplicatedPair()
    primary, standby = pair.start()
    try:
        engine = create_engine(primary)
        upgrade(engine)
        keys = make_keys(engine)
        engine.dispose()
        pair.caught_up()
        yield Site(pair, primary, standby, keys)
    finally:
        pair.stop()


def _client(site: Site, **settings: Any) -> TestClient[Any]:
    options = {"replica_max_lag_s": 3600.0, "rate_limit_per_minute": 0, **settings}
    app = create_app(Settings(database_url=site.primary, replica_urls=(site.standby,), **options))
    return TestClient(app=app)


def _record(client: TestClient[Any], key: str) -> Any:
    return client.post("/api/v1/backtests", content=body(backtest_document()),
                       headers={"Authorization": f"Bearer {key}",
                                "Content-Type": "application/json"})  # fmt: skip


def test_a_read_with_the_token_sees_the_write_even_with_replay_paused(site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.keys['alice']}"}
    with _client(site) as client:
        site.pair.pause_replay()
        try:
            recorded = _record(client, site.keys["alice"])
            assert recorded.status_code == 201
            token = recorded.headers["Ledger-Consistency"]
            path = recorded.headers["location"]
            started = time.monotonic()
            fresh = client.get(path, headers={**auth, "Ledger-Consistency": token})
            waited = time.monotonic() - started
            assert fresh.status_code == 200  # the standby could not: the primary did
            assert waited >= 0.2  # after waiting BACKTEST_LEDGER_REPLICA_WAIT_MS for it
            assert client.get(path, headers=auth, params={"consistency": token}).status_code == 200
            # Without the token the standby answers, as it stands: stale, by design.
            assert client.get(path, headers=auth).status_code == 404
            listed = client.get("/api/v1/backtests", headers=auth).json()["items"]
            assert recorded.json()["backtest_id"] not in [i["backtest_id"] for i in listed]
        finally:
            site.pair.resume_replay()
        site.pair.caught_up()
        assert client.get(path, headers=auth).status_code == 200  # replayed: served there
        deleted = client.delete(path, headers=auth)
        assert deleted.status_code == 204 and deleted.headers["Ledger-Consistency"]
        again = {**auth, "Ledger-Consistency": deleted.headers["Ledger-Consistency"]}
        assert client.get(path, headers=again).status_code == 404


def test_the_python_client_reads_its_own_writes(site: Site) -> None:
    import pandas as pd

    from backtest_ledger import Ledger

    equity = pd.Series([100.0, 101.0, 99.5], index=pd.date_range("2024-01-01", periods=3))
    with _client(site) as client:
        ledger = Ledger(api_key=site.keys["alice"], client=client)
        site.pair.pause_replay()
        try:
            backtest_id = ledger.record(symbol="SPX", strategy="x", equity=equity)
            assert ledger.get(backtest_id)["backtest_id"] == backtest_id  # not a 404
            assert ledger.daily(backtest_id)["equity"].tolist() == equity.tolist()
        finally:
            site.pair.resume_replay()


def test_the_pages_read_past_the_signed_in_users_last_write(site: Site) -> None:
    import re

    def form_token(client: TestClient[Any], page: str) -> str:
        found = re.search(r'name="_csrf_token" value="([^"]+)"', client.get(page).text)
        assert found
        return found.group(1)

    def sign_in(client: TestClient[Any]) -> None:
        fields = {"api_key": site.keys["alice"], "_csrf_token": form_token(client, "/signin")}
        assert client.post("/signin", data=fields, follow_redirects=False).status_code == 303

    with _client(site) as client:
        backtest_id = _record(client, site.keys["alice"]).json()["backtest_id"]
        site.pair.caught_up()
        sign_in(client)
        site.pair.pause_replay()
        try:
            page = f"/backtests/{backtest_id}/delete"
            done = client.post(page, data={"_csrf_token": form_token(client, page)},
                               follow_redirects=False)  # fmt: skip
            assert done.status_code == 303
            listed = client.get("/backtests")
            assert listed.status_code == 200 and backtest_id not in listed.text
            client.cookies.clear()  # another browser of the same user: no token, stale
            sign_in(client)
            assert backtest_id in client.get("/backtests").text
        finally:
            site.pair.resume_replay()


def test_a_standby_lagging_past_the_limit_is_out_of_rotation(site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.keys['alice']}"}
    with _client(site, replica_max_lag_s=0.5) as client:
        site.pair.caught_up()
        site.pair.pause_replay()
        try:
            path = _record(client, site.keys["alice"]).headers["location"]
            time.sleep(1.0)  # WAL waits on the standby, its last replayed commit ages
            assert client.get(path, headers=auth).status_code == 200  # no token: primary
            [standby] = client.get("/health").json()["replicas"]
            assert standby["database"] == "lagging" and standby["lag_seconds"] > 0.5
        finally:
            site.pair.resume_replay()


def test_serve_takes_its_standbys_from_the_command_line(site: Site, tmp_path: Path) -> None:
    server = Server(site.primary, tmp_path / "server.log", workers=1,
                    args=("--replica-url", site.standby))  # fmt: skip
    server.start()
    try:
        health = httpx.get(f"{server.base}/health", timeout=10).json()
    finally:
        server.stop()
    assert [r["database"] for r in health["replicas"]] == ["up"]
    assert f":{site.pair.standby_port}/" in health["replicas"][0]["name"]


def test_a_made_up_token_is_a_400(site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.keys['alice']}"}
    with _client(site) as client:
        bad = client.get("/api/v1/backtests", headers={**auth, "Ledger-Consistency": "../x"})
    assert bad.status_code == 400 and "consistency token" in bad.json()["detail"]


def test_a_stopped_standby_costs_no_read_and_health_says_so(site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.keys['alice']}"}
    with _client(site) as client:
        path = _record(client, site.keys["alice"]).headers["location"]
        site.pair.caught_up()
        site.pair.stop_standby()
        try:
            assert client.get(path, headers=auth).status_code == 200
            assert client.get("/api/v1/backtests", headers=auth).status_code == 200
            health = client.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            [standby] = health.json()["replicas"]
            assert standby["database"] == "down" and "password" not in standby["name"]
        finally:
            site.pair.start_standby()
        time.sleep(RETRY_S)  # out of rotation until then
        site.pair.caught_up()
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["replicas"][0]["database"] == "up"


def test_with_the_primary_stopped_writes_are_503_and_reads_carry_on(site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.keys['alice']}"}
    with _client(site) as client:
        path = _record(client, site.keys["alice"]).headers["location"]
        site.pair.caught_up()
        site.pair.primary.pause()
        try:
            refused = _record(client, site.keys["alice"])
            assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0
            assert client.get(path, headers=auth).status_code == 200  # from the standby
            csv = client.get(f"{path}/daily.csv", headers=auth)
            assert csv.status_code == 200 and csv.text.startswith("date,equity")
            assert client.get("/health").json()["database"] == "down"
        finally:
            site.pair.primary.resume()


def test_every_read_route_is_served_by_the_standby_alone(site: Site) -> None:
    """With the primary stopped, only the standby can answer: every read route does."""
    alice = {"Authorization": f"Bearer {site.keys['alice']}"}
    carol = {"Authorization": f"Bearer {site.keys['carol']}"}
    with _client(site) as client:
        ids = []
        for seed in (1, 2):
            doc = {**backtest_document(days=120, seed=seed), "experiment": "standby-grid"}
            ids.append(client.post("/api/v1/backtests", content=body(doc),
                                   headers={**alice, "Content-Type": "application/json"}
                                   ).json()["backtest_id"])  # fmt: skip
        a, b = ids
        page = client.get("/signin").text
        token = page.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
        signin = {"api_key": site.keys["alice"], "_csrf_token": token}
        assert client.post("/signin", data=signin, follow_redirects=False).status_code == 303
        site.pair.caught_up()
        site.pair.primary.pause()
        try:
            for page in ["/backtests", f"/backtests/{a}", f"/compare?ids={a}&ids={b}",
                         "/experiments", "/experiments/standby-grid"]:  # fmt: skip
                assert client.get(page, headers={"accept": "text/html"}).status_code == 200, page
            api = "/api/v1"
            for path, headers in [
                (f"{api}/backtests", alice),
                (f"{api}/backtests?where=sharpe%20%3E%20-100&sort=-sharpe", alice),
                (f"{api}/backtests?as_of=position:1", alice),
                (f"{api}/backtests/{a}", alice),
                (f"{api}/backtests/{a}/daily.csv", alice),
                (f"{api}/backtests/{a}/monthly.csv", alice),
                (f"{api}/backtests/{a}/trades.csv", alice),
                (f"{api}/backtests/{a}/history", alice),
                (f"{api}/backtests/{a}/significance?samples=200", alice),
                (f"{api}/backtests/compare?ids={a},{b}&points=20", alice),
                (f"{api}/experiments", alice),
                (f"{api}/experiments/standby-grid/backtests.csv", alice),
                (f"{api}/experiments/standby-grid/backtests.parquet", alice),
                (f"{api}/events?after=0", carol),
                (f"{api}/audit/verify", carol),
            ]:
                assert client.get(path, headers=headers).status_code == 200, path
            write = client.delete(f"{api}/backtests/{a}", headers=alice)
            assert write.status_code == 503 and write.headers["retry-after"]
        finally:
            site.pair.primary.resume()


def test_the_feed_read_on_the_standby_skips_nothing(site: Site) -> None:
    schema = f"feed_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_dsn(site.primary), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    option = f"?options=-csearch_path%3D{schema}"
    writing = create_engine(site.primary + option, pool_size=10)
    upgrade(writing)
    site.pair.caught_up()
    reading = create_engine(site.standby + option)
    try:
        readers_see_every_event_once(writing, reading)
    finally:
        writing.dispose()
        reading.dispose()


def test_with_the_primary_stopped_a_standby_in_its_penalty_is_tried(site: Site) -> None:
    """The only standby was restarted a moment ago (out of rotation for RETRY_S after
    its stop was seen), then the primary stopped: reads were all 503 until the penalty
    ended. A read now tries the standby before it fails."""
    auth = {"Authorization": f"Bearer {site.keys['alice']}"}
    with _client(site) as client:
        path = _record(client, site.keys["alice"]).headers["location"]
        site.pair.caught_up()
        site.pair.stop_standby()
        try:
            assert client.get(path, headers=auth).status_code == 200  # the stop is seen
        finally:
            site.pair.start_standby()
        started = time.monotonic()
        site.pair.primary.pause()
        try:
            assert client.get(path, headers=auth).status_code == 200  # from the standby
            assert time.monotonic() - started < RETRY_S  # still within its penalty
        finally:
            site.pair.primary.resume()
