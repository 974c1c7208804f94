"""Every response carries the headers that keep a browser from sniffing, leaking the
referrer, caching what a key opened, running script on the pages or framing them."""

from __future__ import annotations

import urllib.parse

from tests.api.conftest import Api
from tests.api.test_pages_http import HTML, sign_in
from tests.factories import backtest_document


def test_api_answers_are_neither_sniffed_nor_cached(api: Api) -> None:
    backtest_id = api.record("alice").json()["backtest_id"]
    for path in ("/api/v1/backtests", f"/api/v1/backtests/{backtest_id}/daily.csv",
                 "/api/v1/backtests/nope", "/health"):  # fmt: skip
        response = api.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "same-origin", path
        # a read that can be revalidated may be kept by the caller alone; the rest not
        kept = path.endswith(".csv")
        assert response.headers["cache-control"] == ("private, no-cache" if kept else "no-store")
        assert "content-security-policy" not in response.headers, path


def test_pages_run_no_script_and_cannot_be_framed(api: Api) -> None:
    api.record("alice")
    sign_in(api, "alice")
    for path in ("/backtests", "/signin", "/experiments", "/backtests/nope"):
        response = api.client.get(path, headers=HTML)
        policy = response.headers["content-security-policy"]
        assert "script-src 'none'" in policy and "frame-ancestors 'none'" in policy, path
        assert "default-src 'self'" in policy and "form-action 'self'" in policy, path
        assert response.headers["cache-control"] == "no-store", path
    static = api.client.get("/static/style.css")
    assert static.status_code == 200 and static.headers.get("cache-control") != "no-store"
    assert static.headers["x-content-type-options"] == "nosniff"


def test_a_download_name_encodes_slashes_and_bidirectional_controls(api: Api) -> None:
    doc = backtest_document()
    doc["symbol"] = "a/b\u202egpj.exe"
    backtest_id = api.record("alice", doc).json()["backtest_id"]
    disposition = api.get(f"/api/v1/backtests/{backtest_id}/trades.csv").headers[
        "content-disposition"
    ]
    plain, _, encoded = disposition.partition("filename*=UTF-8''")
    assert "/" not in encoded and "\u202e" not in disposition
    assert "%2F" in encoded and "%E2%80%AE" in encoded
    assert urllib.parse.unquote(encoded) == f"a/b\u202egpj.exe_{backtest_id}_trades.csv"
    assert 'filename="a_b_gpj.exe_' in plain
