"""The HTML pages over HTTP on both stores: sessions and access, like the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from tests.api.conftest import Api
from tests.factories import backtest_document

HTML = {"accept": "text/html"}


def form_token(api: Api, page: str = "/signin") -> str:
    """The CSRF token a page's forms carry (and, as a side effect, its cookie)."""
    found = re.search(r'name="_csrf_token" value="([^"]+)"', api.client.get(page).text)
    assert found, f"no form token on {page}"
    return found.group(1)


def post_form(api: Api, path: str, data: dict[str, str] | None = None, page: str = "/signin"):  # type: ignore[no-untyped-def]
    """POST a page's form as the browser does: with the token the page rendered."""
    fields = {**(data or {}), "_csrf_token": form_token(api, page)}
    return api.client.post(path, data=fields, follow_redirects=False)


def sign_in(api: Api, who: str, next_page: str = "/backtests") -> None:
    response = post_form(api, "/signin", {"api_key": api.keys[who], "next": next_page})
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
    assert post_form(api, f"/backtests/{theirs}/delete", page="/backtests").status_code == 404
    assert api.event_count() == 2


def test_deleting_from_the_page_asks_first_then_appends_one_event(api: Api) -> None:
    backtest_id = api.record("alice").json()["backtest_id"]
    sign_in(api, "alice")
    confirm = api.client.get(f"/backtests/{backtest_id}/delete")
    assert confirm.status_code == 200 and "Yes, delete it" in confirm.text
    assert api.event_count() == 1
    done = post_form(
        api, f"/backtests/{backtest_id}/delete", page=f"/backtests/{backtest_id}/delete"
    )
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
    response = post_form(api, "/signin", {"api_key": api.keys["alice"], "next": "//evil.example/x"})
    assert response.headers["location"] == "/backtests"


def test_signing_out_ends_the_session(api: Api) -> None:
    sign_in(api, "alice")
    assert api.client.get("/backtests", follow_redirects=False).status_code == 200
    out = post_form(api, "/signout", page="/backtests")
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


def test_forms_from_elsewhere_are_refused_and_change_nothing(api: Api) -> None:
    """A forged form: another origin's page, an opaque one, a plain-text body, no token,
    a stolen cookie without the page's token, and a login into the attacker's account."""
    backtest_id = api.record("alice").json()["backtest_id"]
    sign_in(api, "alice")
    token = form_token(api, "/backtests")
    delete = f"/backtests/{backtest_id}/delete"
    forged = [
        ({"Origin": "https://evil.example"}, {"_csrf_token": token}),
        ({"Origin": "null"}, {"_csrf_token": token}),
        ({"Sec-Fetch-Site": "cross-site"}, {"_csrf_token": token}),
        ({"Sec-Fetch-Site": "same-site", "Origin": "https://sub.testserver.local"}, {}),
        ({}, {}),  # no token at all
        ({}, {"_csrf_token": "forged" + token[6:]}),
    ]
    for headers, data in forged:
        response = api.client.post(delete, data=data, headers={**HTML, **headers},
                                   follow_redirects=False)  # fmt: skip
        assert response.status_code == 403, (headers, response.status_code)
    plain = api.client.post(delete, content=b"x=1", headers={"Content-Type": "text/plain",
                                                               "Origin": "null"})  # fmt: skip
    assert plain.status_code == 403
    assert api.event_count() == 1  # nothing was deleted
    own = api.client.post(delete, data={"_csrf_token": token}, follow_redirects=False,
                          headers={"Origin": "http://testserver.local",
                                   "Sec-Fetch-Site": "same-origin"})  # fmt: skip
    assert own.status_code == 303 and api.event_count() == 2

    api.client.cookies.clear()  # a victim with no session; the attacker's key in a form
    login = api.client.post("/signin", data={"api_key": api.keys["bob"]},
                            headers={"Origin": "https://evil.example"})  # fmt: skip
    assert login.status_code == 403 and "btl_session" not in login.headers.get("set-cookie", "")
    silent = api.client.post("/signin", data={"api_key": api.keys["bob"]}, follow_redirects=False)
    assert silent.status_code == 403  # no Origin header, but no token either
    assert api.client.get("/backtests", follow_redirects=False).status_code == 302


def test_signing_out_ends_the_session_on_the_server_copies_included(api: Api) -> None:
    sign_in(api, "alice")
    copied = dict(api.client.cookies)
    assert api.client.get("/backtests", follow_redirects=False).status_code == 200
    assert post_form(api, "/signout", page="/backtests").status_code == 303
    for name, value in copied.items():  # the cookie as it was before signing out
        api.client.cookies.set(name, value)
    assert api.client.get("/backtests", follow_redirects=False).status_code == 302
    api.client.cookies.clear()  # a browser's jar replaces a cookie; this client's keeps both
    sign_in(api, "alice")  # signing in again starts a new session that works
    assert api.client.get("/backtests", follow_redirects=False).status_code == 200


def test_revoking_the_key_ends_its_sessions_and_a_session_ends_after_its_lifetime(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from infrastructure.database import write_transaction
    from infrastructure.users import revoke_user

    sign_in(api, "bob")
    assert api.client.get("/backtests", follow_redirects=False).status_code == 200
    with write_transaction(api.engine) as conn:
        revoke_user(conn, "bob")
    assert api.client.get("/backtests", follow_redirects=False).status_code == 302

    sign_in(api, "alice")
    began = time.time()
    for hours in (4, 8, 11.9):  # busy all day: each page renews the 8-hour idle cookie
        monkeypatch.setattr(time, "time", lambda hours=hours: began + hours * 3600)
        assert api.client.get("/backtests", follow_redirects=False).status_code == 200, hours
    monkeypatch.setattr(time, "time", lambda: began + 12.1 * 3600)  # the absolute 12 hours
    assert api.client.get("/backtests", follow_redirects=False).status_code == 302


def test_the_report_of_a_long_backtest_stays_small_with_its_exact_drawdown(api: Api) -> None:
    import datetime as dt

    from tests.factories import backtest_document

    doc = backtest_document(days=30_000, trades=0, start=dt.date(1920, 1, 1))
    backtest_id = api.record(document=doc).json()["backtest_id"]
    worst = api.get(f"/api/v1/backtests/{backtest_id}").json()["metrics"]["max_drawdown"]
    sign_in(api, "alice")
    page = api.client.get(f"/backtests/{backtest_id}", headers=HTML)
    assert page.status_code == 200
    assert len(page.content) < 250_000  # 133 kB; drawn point for point it was 1.09 MB
    lows = re.findall(r'data-low="([^"]+)"', page.text)
    assert float(lows[1]) == pytest.approx(worst, rel=1e-12)  # the drawdown chart's


def test_the_list_shows_parameters_cut_short_with_a_link_to_all_of_them(api: Api) -> None:
    from tests.factories import backtest_document

    short = api.record(document=backtest_document()).json()["backtest_id"]
    doc = backtest_document()
    doc["parameters"] = {"grid": list(range(200_000)), "name": "wide"}  # ≈1.3 MB of JSON
    wide = api.record(document=doc).json()["backtest_id"]
    sign_in(api, "alice")
    page = api.client.get("/backtests", headers=HTML)
    assert page.status_code == 200 and len(page.content) < 50_000
    assert "fast=10, slow=30" in page.text  # short ones shown whole, as before
    assert f'href="/backtests/{wide}#parameters"' in page.text
    assert f'href="/backtests/{short}#parameters"' not in page.text
    import html

    assert '{"grid":[0,1,2,3' in html.unescape(page.text) and "199999" not in page.text


def _signed_in_client(app: object, base_url: str, key: str):  # type: ignore[no-untyped-def]
    """A test client on ``base_url`` signed in with ``key``, and the Set-Cookie headers
    of its sign-in form and of the sign-in."""
    from litestar.testing import TestClient

    client = TestClient(app=app, base_url=base_url)  # type: ignore[arg-type]
    form = client.get("/signin")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
    assert token
    signed = client.post("/signin", data={"api_key": key, "_csrf_token": token.group(1)},
                         follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303
    return client, form.headers["set-cookie"], signed.headers["set-cookie"]


@pytest.mark.parametrize("always", [False, True], ids=["by-scheme", "secure-cookies-setting"])
def test_over_https_the_cookies_are_secure_with_the_host_prefix(
    database_url: str, engine: object, always: bool
) -> None:
    from api.app import create_app
    from infrastructure.settings import Settings
    from tests.api.conftest import make_keys

    keys = make_keys(engine)  # type: ignore[arg-type]
    app = create_app(Settings(database_url=database_url, secure_cookies=always))
    client, csrf, session = _signed_in_client(app, "https://testserver.local", keys["alice"])
    with client:
        assert csrf.startswith("__Host-btl_csrf=") and "Secure" in csrf and "Path=/" in csrf
        assert session.startswith("__Host-btl_session=") and "Secure" in session
        assert "Domain" not in session and session.count("Secure") == 1
        assert client.get("/backtests", follow_redirects=False).status_code == 200
        # the same session under the plain name (planted over HTTP, or by a subdomain)
        # is not taken over HTTPS
        value = client.cookies["__Host-btl_session"]
        client.cookies.clear()
        client.cookies.set("btl_session", value)
        assert client.get("/backtests", follow_redirects=False).status_code == 302


def test_over_plain_http_the_cookies_are_plain_and_prefixed_ones_ignored(
    database_url: str, engine: object
) -> None:
    from api.app import create_app
    from infrastructure.settings import Settings
    from tests.api.conftest import make_keys

    keys = make_keys(engine)  # type: ignore[arg-type]
    app = create_app(Settings(database_url=database_url))
    client, csrf, session = _signed_in_client(app, "http://testserver.local", keys["alice"])
    with client:
        assert csrf.startswith("btl_csrf=") and "Secure" not in csrf
        assert session.startswith("btl_session=") and "Secure" not in session
        assert client.get("/backtests", follow_redirects=False).status_code == 200
        value = client.cookies["btl_session"]
        client.cookies.clear()
        client.cookies.set("__Host-btl_session", value)  # a browser never sends it over HTTP
        assert client.get("/backtests", follow_redirects=False).status_code == 302


def test_a_long_backtests_page_defers_its_bootstrap_to_a_link(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A million bars took the report page 42 s on first view: the bootstrap ran while
    it loaded. Past PAGE_INLINE_DRAWS (here lowered so that 400 days pass it) the page
    shows a stored report or a link that computes one."""
    from api.web import pages
    from infrastructure.tables import significance_reports

    monkeypatch.setattr(pages, "PAGE_INLINE_DRAWS", 100 * pages.PAGE_RESAMPLES)
    backtest_id = api.record(document=backtest_document(days=400)).json()["backtest_id"]
    sign_in(api, "alice")

    def stored() -> int:
        with api.engine.connect() as conn:
            count = sa.select(sa.func.count()).select_from(significance_reports)
            return int(conn.execute(count).scalar_one())

    first = api.client.get(f"/backtests/{backtest_id}", headers=HTML)
    assert first.status_code == 200 and 'id="sig-deferred"' in first.text
    assert "?significance=compute" in first.text and stored() == 0
    computed = api.client.get(f"/backtests/{backtest_id}?significance=compute", headers=HTML)
    assert computed.status_code == 200 and "resamples" in computed.text and stored() == 1
    later = api.client.get(f"/backtests/{backtest_id}", headers=HTML)
    assert 'id="sig-deferred"' not in later.text and "resamples" in later.text
    short = api.record(document=backtest_document(days=50)).json()["backtest_id"]
    inline = api.client.get(f"/backtests/{short}", headers=HTML)
    assert "resamples" in inline.text and stored() == 2  # computed as the page loaded


def test_the_report_page_is_revalidated_until_what_it_shows_changes(api: Api) -> None:
    """A browser keeps the report page (private, no-cache) and asks again with its tag:
    a 304 that reads no series, until the backtest, its trials or the reader change."""
    from tests.api.test_conditional_http import series_reads

    doc = backtest_document(days=120, seed=1)
    doc["experiment"] = "grid"
    backtest_id = api.record(document=doc).json()["backtest_id"]
    sign_in(api, "alice")
    path = f"/backtests/{backtest_id}"
    first = api.client.get(path, headers=HTML)
    assert first.status_code == 200 and "resamples" in first.text
    assert first.headers["cache-control"] == "private, no-cache"
    tag = first.headers["etag"]

    def again(held: str = tag, **params: str) -> Any:
        return api.client.get(path, params=params, headers={**HTML, "If-None-Match": held})

    with series_reads() as seen:
        kept = again()
    assert kept.status_code == 304 and kept.content == b"" and seen == []
    assert again(trades_page="2").status_code == 200  # another page of trades
    # a new variant in its experiment is one more trial: the DSR on the page moves
    more = backtest_document(days=120, seed=2)
    more["experiment"] = "grid"
    assert api.record(document=more).status_code == 201
    moved = again()
    assert moved.status_code == 200 and moved.headers["etag"] != tag
    assert moved.text != first.text  # the trials shown changed
    tag = moved.headers["etag"]
    exclusion = f"/api/v1/backtests/{backtest_id}/exclusion"
    excluded = api.client.post(exclusion, json={"reason": "a test"}, headers=api.auth("alice"))
    assert excluded.status_code == 201
    assert again(tag).status_code == 200
    # another reader holds nothing of alice's, and an auditor's page is their own
    sign_in(api, "bob")
    assert again("*").status_code == 404
    sign_in(api, "carol")
    assert again(tag).status_code == 200


def test_a_report_page_without_its_significance_is_not_kept(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.web import pages

    monkeypatch.setattr(pages, "PAGE_INLINE_DRAWS", 100 * pages.PAGE_RESAMPLES)
    backtest_id = api.record(document=backtest_document(days=400)).json()["backtest_id"]
    sign_in(api, "alice")
    deferred = api.client.get(f"/backtests/{backtest_id}", headers=HTML)
    assert 'id="sig-deferred"' in deferred.text
    assert "etag" not in deferred.headers and deferred.headers["cache-control"] == "no-store"
    api.client.get(f"/backtests/{backtest_id}?significance=compute", headers=HTML)
    stored = api.client.get(f"/backtests/{backtest_id}", headers=HTML)
    assert "resamples" in stored.text and "etag" in stored.headers


def test_the_compare_page_is_revalidated_until_one_of_its_backtests_changes(api: Api) -> None:
    from tests.api.test_conditional_http import series_reads

    one = api.record(document=backtest_document(days=90, seed=1)).json()["backtest_id"]
    two = api.record(document=backtest_document(days=90, seed=2)).json()["backtest_id"]
    sign_in(api, "alice")
    params = {"ids": [one, two]}
    first = api.client.get("/compare", params=params, headers=HTML)
    assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
    tag = first.headers["etag"]
    held = {**HTML, "If-None-Match": tag}
    with series_reads() as seen:
        kept = api.client.get("/compare", params=params, headers=held)
    assert kept.status_code == 304 and seen == []
    api.client.post(f"/api/v1/backtests/{two}/exclusion", json={"reason": "a test"},
                    headers=api.auth("alice"))  # fmt: skip
    assert api.client.get("/compare", params=params, headers=held).status_code == 200
    sign_in(api, "bob")
    assert api.client.get("/compare", params=params, headers=held).status_code == 404
