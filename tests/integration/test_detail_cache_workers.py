"""The cache of rendered details across a served ledger's two worker processes: each
keeps its own, keyed by the backtest's stream version, so after an exclusion every
worker answers with the new tag and after a deletion every worker answers 404, though
each had the detail kept. Every request is a new connection, which the kernel hands to
either worker."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.conftest import make_keys
from tests.factories import backtest_document, body
from tests.server_process import Server

ROUNDS = 24


def test_no_worker_serves_a_kept_detail_after_it_changed(tmp_path: Path, database_url: str) -> None:
    from infrastructure.database import create_engine
    from tests.migrated import migrate

    engine = create_engine(database_url)
    try:
        migrate(engine)
        key = make_keys(engine)["alice"]
    finally:
        engine.dispose()
    auth = {"Authorization": f"Bearer {key}"}
    server = Server(database_url, tmp_path / "server.log", workers=2)
    server.start()
    try:
        recorded = httpx.post(f"{server.base}/api/v1/backtests", headers=auth,
                              content=body(backtest_document(days=200, trades=5)))  # fmt: skip
        assert recorded.status_code == 201, recorded.text
        url = f"{server.base}/api/v1/backtests/{recorded.json()['backtest_id']}"
        warm = [httpx.get(url, headers=auth) for _ in range(ROUNDS)]  # both workers keep it
        assert {r.status_code for r in warm} == {200}
        assert len({r.content for r in warm}) == 1 and len({r.headers["etag"] for r in warm}) == 1
        tag = warm[0].headers["etag"]
        excluded = httpx.post(f"{url}/exclusion", json={"reason": "a dry run"}, headers=auth)
        assert excluded.status_code == 201
        after = [httpx.get(url, headers={**auth, "If-None-Match": tag}) for _ in range(ROUNDS)]
        assert {r.status_code for r in after} == {200}
        assert {r.headers["etag"] for r in after} != {tag} and len(
            {r.headers["etag"] for r in after}
        ) == 1
        assert {r.content for r in after} == {warm[0].content}
        assert httpx.delete(url, headers=auth).status_code == 204
        gone = [httpx.get(url, headers=auth) for _ in range(ROUNDS)]
        assert {r.status_code for r in gone} == {404}
    finally:
        server.stop()
