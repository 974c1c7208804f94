"""The HTML pages over HTTP on both stores: sessions and access, like the API."""

from __future__ import annotations

import re

from tests.api.conftest import Api

HTML = {"accept": "text/html"}


def sign_in(api: Api, who: str, next_page: str = "/backtests") -> None:
    response = api.client.post(
        "/signin", data={"api_key": api.keys[who], "next": next_page}, follow_redirects=False
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert api.keys[who] not in cookie


def test_pages_need_a_session_and_show_only_ones_own(api: Api) -> None:
    mine = api.record("alice").json()["backtest_id"]
    theirs = api.record("bob").json()["backtest_id"]
    first = api.client.get("/backtests", follow_redirects=False)
    assert first.status_code == 302 and first.headers["location"].startswith("/signin")
    sign_in(api, "alice")
    page = api.client.get("/backtests")
    assert page.status_code == 200
    assert set(re.findall(r'href="/backtests/([0-9a-f-]{36})"', page.text)) == {mine}
    assert api.client.get(f"/backtests/{mine}").status_code == 200
    foreign = api.client.get(f"/backtests/{theirs}", headers=HTML)
    assert foreign.status_code == 404 and "<html" in foreign.text
    assert api.client.get(f"/backtests/{theirs}/csv/daily").status_code == 404
    assert api.client.post(f"/backtests/{theirs}/delete").status_code == 404
    assert api.event_count() == 2


def test_deleting_from_the_page_asks_first_then_appends_one_event(api: Api) -> None:
    backtest_id = api.record("alice").json()["backtest_id"]
    sign_in(api, "alice")
    confirm = api.client.get(f"/backtests/{backtest_id}/delete")
    assert confirm.status_code == 200 and "Yes, delete it" in confirm.text
    assert api.event_count() == 1
    done = api.client.post(f"/backtests/{backtest_id}/delete", follow_redirects=False)
    assert done.status_code == 303 and api.event_count() == 2
    assert backtest_id not in api.client.get("/backtests").text


def test_auditors_see_everyone_and_the_as_of_view(api: Api) -> None:
    first = api.record("alice").json()
    api.record("bob")
    sign_in(api, "carol")
    page = api.client.get("/backtests")
    assert len(set(re.findall(r'href="/backtests/([0-9a-f-]{36})"', page.text))) == 2
    then = api.client.get("/backtests", params={"as_of": f"position:{first['position']}"})
    assert set(re.findall(r'href="/backtests/([0-9a-f-]{36})"', then.text)) == {
        first["backtest_id"]
    }
    assert 'aria-label="As of"' in page.text


def test_admins_get_no_backtest_pages_and_sign_in_never_redirects_off_site(api: Api) -> None:
    sign_in(api, "dave")
    assert api.client.get("/backtests", headers=HTML).status_code == 404
    response = api.client.post(
        "/signin", data={"api_key": api.keys["alice"], "next": "//evil.example/x"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.headers["location"] == "/backtests"


def test_signing_out_ends_the_session(api: Api) -> None:
    sign_in(api, "alice")
    assert api.client.get("/backtests", follow_redirects=False).status_code == 200
    out = api.client.post("/signout", follow_redirects=False)
    assert out.status_code == 303
    assert api.client.get("/backtests", follow_redirects=False).status_code == 302


def test_experiment_pages_need_a_session_show_only_ones_own_and_escape_names(api: Api) -> None:
    from tests.factories import backtest_document

    hostile = "<b onmouseover=alert(1)>x"
    for who, name in (("alice", hostile), ("bob", "bobs-grid")):
        doc = backtest_document()
        doc["experiment"] = name
        assert api.record(who, doc).status_code == 201
    first = api.client.get("/experiments", follow_redirects=False)
    assert first.status_code == 302 and first.headers["location"].startswith("/signin")
    sign_in(api, "alice")
    listing = api.client.get("/experiments")
    assert listing.status_code == 200 and hostile not in listing.text
    assert "&lt;b onmouseover=alert(1)&gt;x" in listing.text and "bobs-grid" not in listing.text
    quoted = "%3Cb%20onmouseover%3Dalert%281%29%3Ex"
    page = api.client.get(f"/experiments/{quoted}", params={"x": "a\"'<b>", "metric": "nope"})
    assert page.status_code == 200 and hostile not in page.text and "<b>" not in page.text
    assert 'data-cells="1"' in page.text  # the axes fell back to the sweep's own parameters
    assert api.client.get("/experiments/bobs-grid", headers=HTML).status_code == 404
    csv = api.client.get(f"/experiments/{quoted}/backtests.csv")
    assert csv.status_code == 200 and csv.text.count("\r\n") == 2
    assert api.client.get("/experiments/bobs-grid/backtests.csv").status_code == 404
    bad = api.client.get(f"/experiments/{quoted}", params={"where": "sharpe >"}, headers=HTML)
    assert bad.status_code == 400 and "offset 8" in bad.text
    assert api.client.get(f"/experiments/{quoted}/compare", params={"top": 9}).status_code == 400


def test_page_numbers_past_any_list_are_a_400_not_a_500(api: Api) -> None:
    backtest_id = api.record("alice").json()["backtest_id"]
    sign_in(api, "alice")
    huge = "1000000000000000000"
    for path, params in (("/backtests", {"page": huge}),
                         (f"/backtests/{backtest_id}", {"trades_page": huge})):  # fmt: skip
        response = api.client.get(path, params=params, headers=HTML)
        assert response.status_code == 400 and "<html" in response.text, path
    last = api.client.get("/backtests", params={"page": "1000000"}, headers=HTML)
    assert last.status_code == 200  # the largest page number is an empty page
