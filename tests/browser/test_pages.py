"""The report pages in a real browser: headless Chromium driven by Playwright, against
the served app filled by ``backtest-ledger demo`` (real S&P 500 data)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from api.web.charts import WIDTH
from tests.server_process import CLI, Server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The served app with the demo's backtests; yields its URL and the demo key."""
    root = tmp_path_factory.mktemp("site")
    env = dict(
        os.environ,
        BACKTEST_LEDGER_DATABASE_URL=f"sqlite:///{root / 'ledger.sqlite3'}",
        BACKTEST_LEDGER_STATE_DIR=str(root),
    )
    demo = subprocess.run([CLI, "demo"], env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    key = demo.stdout.strip()
    server = Server(env["BACKTEST_LEDGER_DATABASE_URL"], root / "server.log", workers=1,
                    BACKTEST_LEDGER_STATE_DIR=str(root),
                    BACKTEST_LEDGER_ANALYSIS_WORKERS="1")  # fmt: skip
    server.start()
    try:
        yield {"base": server.base, "key": key}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield chromium
        chromium.close()


def api(site: dict[str, Any], path: str) -> httpx.Response:
    return httpx.get(f"{site['base']}{path}", headers={"Authorization": f"Bearer {site['key']}"},
                     timeout=30)  # fmt: skip


def sign_in(page: Page, site: dict[str, Any]) -> None:
    page.goto(f"{site['base']}/backtests")
    assert "/signin" in page.url
    page.get_by_label("API key").fill(site["key"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site['base']}/backtests")


def unnamed_controls(page: Page) -> list[str]:
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('a, button, input:not([type=hidden])')]
              .filter(el => !(el.getAttribute('aria-label') || el.textContent.trim()
                     || (el.id && document.querySelector(`label[for="${el.id}"]`))
                     || el.closest('label')))
              .map(el => el.outerHTML.slice(0, 80))"""
        )
    )


def fits_width(page: Page) -> bool:
    page.wait_for_load_state()  # after a click, the next page's body, not none mid-way
    return bool(page.evaluate("() => document.body.scrollWidth <= window.innerWidth + 1"))


def test_a_quant_signs_in_reads_a_report_downloads_compares_and_signs_out(
    site: dict[str, Any], browser: Browser
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    foreign: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(site["base"]) else foreign.append(r.url))

    sign_in(page, site)
    listed = api(site, "/api/v1/backtests").json()["items"]
    rows = page.locator("table.list tbody tr")
    assert rows.count() == len(listed) == 11
    assert unnamed_controls(page) == []
    page.screenshot(path=str(ARTIFACTS / "list.png"), full_page=True)

    with page.expect_navigation():  # or the rows read below are the old page's
        page.get_by_role("link", name="Sort by Sharpe").click()
    best = max(listed, key=lambda i: i["metrics"]["sharpe"])
    first_link = rows.first.locator("a").first
    assert first_link.get_attribute("href") == f"/backtests/{best['backtest_id']}"

    first_link.click()
    detail = api(site, f"/api/v1/backtests/{best['backtest_id']}").json()
    days = len(detail["daily_results"])
    closes = [d["equity"] for d in detail["daily_results"]]
    equity = page.locator("#equity polyline[data-name=SPX]")
    drawn = int(equity.get_attribute("data-points") or 0)
    # 20 years of days on an 872-unit plot: each column's lowest and highest close
    assert days > 2 * 872 and 872 <= drawn <= 2 * 872
    assert len((equity.get_attribute("points") or "").split()) == drawn
    # the benchmark (the demo holds the index) rebased to the capital, drawn beneath
    growth = np.cumprod([1 + (d.get("benchmark_return") or 0.0) for d in detail["daily_results"]])
    rebased = (detail["initial_capital"] * growth).tolist()
    assert page.locator("#equity polyline[data-name=benchmark]").count() == 1
    low = float(page.locator("#equity svg").get_attribute("data-low") or 0)
    high = float(page.locator("#equity svg").get_attribute("data-high") or 0)
    assert low == pytest.approx(min(closes + rebased), rel=1e-12)
    assert high == pytest.approx(max(closes + rebased), rel=1e-12)
    relative = detail["relative"]
    shown = page.locator("#vs-benchmark")
    assert shown.locator("[data-relative=beta]").inner_text() == f"{relative['beta']:.2f}"
    assert shown.locator("[data-relative=benchmark_total_return]").inner_text() == (
        f"{relative['benchmark_total_return']:.2%}"
    )
    assert f"{relative['pairs']:,} bars" in shown.inner_text()
    # rolling Sharpe and beta over half a year of days
    rolling = page.locator("figure.rolling svg")
    assert rolling.count() == 2
    assert [rolling.nth(i).get_attribute("aria-label") for i in range(2)] == [
        "Rolling Sharpe, 126 bars", "Rolling beta, 126 bars"
    ]  # fmt: skip
    # the deepest point of the drawdown chart is the backtest's own max drawdown
    deepest = float(page.locator("#drawdown svg").get_attribute("data-low") or 0)
    assert deepest == pytest.approx(best["metrics"]["max_drawdown"], rel=1e-12)
    assert page.locator("table.heatmap tbody tr").count() == 20  # 1999..2018
    assert "over 11 trials" in page.locator("#sig-h + p + dl").inner_text()
    assert page.locator("[data-metric=sharpe]").inner_text() == f"{best['metrics']['sharpe']:.2f}"
    assert unnamed_controls(page) == []
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)

    with page.expect_download() as caught:
        page.get_by_role("link", name="Download daily.csv").click()
    downloaded = Path(caught.value.path()).read_bytes()
    assert downloaded == api(site, f"/api/v1/backtests/{best['backtest_id']}/daily.csv").content
    assert caught.value.suggested_filename == f"SPX_{best['backtest_id']}_daily.csv"

    page.goto(f"{site['base']}/backtests")
    boxes = page.get_by_role("checkbox")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Compare selected (2–8)").click()
    page.wait_for_url("**/compare?**")
    # the two curves, and the first one's benchmark (the demo holds the index)
    assert page.locator("#equity polyline").count() == 3
    held = page.locator('#equity polyline[data-name^="benchmark of SPX"]')
    assert held.count() == 1 and int(held.get_attribute("data-points") or 0) > 100
    assert page.locator("#drawdown polyline").count() == 2
    assert page.locator("[data-benchmark]").inner_text().startswith("benchmark of SPX")
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    page.goto(f"{site['base']}/backtests")
    assert "/signin" in page.url
    assert foreign == []
    context.close()


def test_pages_fit_a_phone_screen(site: dict[str, Any], browser: Browser) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    sign_in(page, site)
    assert fits_width(page)
    page.screenshot(path=str(ARTIFACTS / "list-phone.png"), full_page=True)
    with page.expect_navigation():
        page.locator("table.list tbody tr a").first.click()
    assert fits_width(page)
    page.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=True)
    context.close()


def test_a_wrong_key_is_refused_and_the_cookie_is_httponly(
    site: dict[str, Any], browser: Browser
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{site['base']}/signin")
    page.get_by_label("API key").fill("btl_wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "That API key is not valid."
    sign_in(page, site)
    [cookie] = [c for c in context.cookies() if c["name"] == "btl_session"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert site["key"] not in cookie["value"]
    context.close()


def test_a_quant_searches_a_sweep_reads_its_heatmap_and_compares_the_top_variants(
    site: dict[str, Any], browser: Browser
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    foreign: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(site["base"]) else foreign.append(r.url))
    sign_in(page, site)
    page.get_by_role("link", name="Experiments (sweeps) →").click()
    row = page.locator("table.list tbody tr", has_text="demo-sma-grid")
    assert row.locator("td.num").nth(1).inner_text() == "11"  # tried
    with page.expect_navigation():
        row.get_by_role("link", name="demo-sma-grid").click()

    ranked = api(site, "/api/v1/backtests?experiment=demo-sma-grid&sort=-sharpe").json()["items"]
    rows = page.locator("#sweep tbody tr")
    assert rows.count() == 11
    first = rows.first.locator("a").first.get_attribute("href")
    assert first == f"/backtests/{ranked[0]['backtest_id']}"
    best = page.locator("#best").inner_text()
    report = api(site, f"/api/v1/backtests/{ranked[0]['backtest_id']}/significance?samples=2000")
    assert "best of 11 tried" in best
    assert f"{report.json()['dsr']['value']:.3f}" in best

    # the two parameters that vary are the default axes (cost_bps and long_only do not)
    assert page.get_by_label("Heatmap columns").input_value() == "fast"
    assert page.get_by_label("Heatmap rows").input_value() == "slow"
    cells = page.locator("#heatmap g.cell")
    assert cells.count() == 11  # one per (fast, slow) pair of the grid
    by_pair = {(i["backtest_id"]): i for i in ranked}
    pairs = {
        (str(d["parameters"]["fast"]), str(d["parameters"]["slow"])): by_pair[bid]
        for bid in by_pair
        for d in [api(site, f"/api/v1/backtests/{bid}").json()]
    }
    cell = page.locator('#heatmap g.cell[data-x="5"][data-y="50"] text')
    assert cell.text_content() == f"{pairs[('5', '50')]['metrics']['sharpe']:.2f}"
    assert unnamed_controls(page) == []
    page.screenshot(path=str(ARTIFACTS / "experiment.png"), full_page=True)

    page.get_by_label("Filter expression").fill("parameters.fast >= 20 and sharpe > -10")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    wanted = api(site, "/api/v1/backtests?experiment=demo-sma-grid&sort=-sharpe"
                 "&where=parameters.fast%20%3E%3D%2020").json()["items"]  # fmt: skip
    assert rows.count() == len(wanted) == 5
    assert page.locator("#heatmap g.cell").count() == 5

    page.get_by_label("Filter expression").fill("parameters.fast >= and")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    assert "offset 19" in page.get_by_role("alert").inner_text()
    assert rows.count() == 11  # the whole sweep, the expression kept for fixing
    assert page.get_by_label("Filter expression").input_value() == "parameters.fast >= and"

    page.get_by_label("Filter expression").fill("")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    page.get_by_label("How many to compare").fill("3")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/compare?**")
    assert page.locator("#equity polyline").count() == 4  # the top 3 and the first's benchmark
    links = page.locator("ul.legend a")
    assert [links.nth(i).get_attribute("href") for i in range(3)] == [
        f"/backtests/{item['backtest_id']}" for item in ranked[:3]
    ]
    assert foreign == []
    context.close()


def test_a_quant_asks_whether_the_best_of_the_sweep_is_real(
    site: dict[str, Any], browser: Browser
) -> None:
    """The panel's button queues the analysis, the page refreshes itself (no script)
    until the service's worker is done, then shows the figures the API gives."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, site)
    page.goto(f"{site['base']}/experiments/demo-sma-grid")
    assert "No analysis of this sweep yet" in page.locator("#analysis").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Analyse this sweep").click()
    shown = page.locator("#analysis-progress, #analysis-figures").first.inner_text()
    assert "Analysis queued" in shown or "Analysis running" in shown or "PBO" in shown
    page.locator("#analysis-figures").wait_for(timeout=120_000)  # through meta refreshes
    done = httpx.post(
        f"{site['base']}/api/v1/experiments/demo-sma-grid/analyses",
        headers={"Authorization": f"Bearer {site['key']}"},
        json={},
        timeout=30,
    )
    assert done.status_code == 200, done.text  # the same inputs: the page's analysis
    result = done.json()["result"]
    assert page.locator("#pbo").inner_text() == f"{result['pbo']['pbo']:.3f}"
    ability = result["superior_ability"]
    assert page.locator("#reality-check").inner_text() == f"{ability['reality_check']:.4f}"
    assert page.locator("span.badge.stepm").count() == len(ability["stepm"])
    assert page.locator("span.badge.mcs").count() == len(ability["mcs"]) > 0
    bins = page.locator("#lambdas svg rect title").all_text_contents()
    assert sum(int(text.rsplit(": ", 1)[1]) for text in bins) == result["pbo"]["combinations"]
    points = [p for p in result["scatter"]["in_sample"] if p is not None]
    scatter = page.locator("#degradation svg")
    assert scatter.get_attribute("data-of") == str(len(points))
    assert page.locator("#degradation svg circle").count() == min(len(points), WIDTH) > 0
    assert page.get_by_role("button", name="Analyse again").count() == 1
    assert unnamed_controls(page) == []
    page.screenshot(path=str(ARTIFACTS / "analysis.png"), full_page=True)
    context.close()


def test_a_form_on_another_origin_of_the_same_site_cannot_delete(
    site: dict[str, Any], browser: Browser
) -> None:
    """The attack SameSite=Lax lets through: a page on another port of the same host is
    the same site, so the browser sends the session cookie with its form's POST."""
    import http.server
    import threading

    victim = api(site, "/api/v1/backtests?limit=1").json()["items"][0]["backtest_id"]
    form = (f'<form method="post" action="{site["base"]}/backtests/{victim}/delete">'
            '<button>Win a prize</button></form>').encode()  # fmt: skip

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(form)

        def log_message(self, *_: object) -> None:
            pass

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        sign_in(page, site)
        page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        with page.expect_response(f"**/backtests/{victim}/delete") as caught:
            page.get_by_role("button", name="Win a prize").click()
        assert caught.value.status == 403
        assert caught.value.request.headers.get("origin", "").endswith(str(evil.server_address[1]))
        assert api(site, f"/api/v1/backtests/{victim}").status_code == 200  # still there
    finally:
        context.close()
        evil.shutdown()
        evil.server_close()
