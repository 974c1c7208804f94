"""Intraday backtests over HTTP, on both stores: rows keyed by ``time``, annualised
by the periods given or inferred from the bars, and every read (detail, CSVs,
monthly table, compare, significance) working on them; the warnings a legal but
doubtful submission is kept with.

Expected figures come from pandas and numpy applied to the submitted equity, not
from the ledger's code: returns by ``pct_change``, months by ``resample``.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.api.conftest import Api
from tests.factories import backtest_document

CAPITAL = 10_000.0


def hourly(hours: int, *, start: str = "2024-01-29T20:00:00+02:00", seed: int = 3,
           weekdays_only: bool = False) -> dict[str, Any]:  # fmt: skip
    """A crypto-style hourly backtest (24/7) keyed by times with a +02:00 offset,
    crossing a month's end in UTC; no periods_per_year."""
    first = dt.datetime.fromisoformat(start)
    stamps = [first + dt.timedelta(hours=h) for h in range(hours * 3)]
    if weekdays_only:
        stamps = [s for s in stamps if s.astimezone(dt.UTC).weekday() < 5]
    stamps = stamps[:hours]
    rng = np.random.default_rng(seed)
    equity = CAPITAL * np.cumprod(1 + rng.normal(0.0002, 0.004, hours))
    doc = backtest_document(days=1, trades=2)
    doc.pop("periods_per_year")
    doc.update(
        interval="1h",
        daily_results=[{"time": s.isoformat(), "equity": float(e)}
                       for s, e in zip(stamps, equity, strict=True)],
    )  # fmt: skip
    for n, trade in enumerate(doc["trades"]):  # within the bars' span
        trade["entry_time"] = stamps[n].isoformat()
        trade["exit_time"] = stamps[n + 1].isoformat()
    return doc


def _frame(doc: dict[str, Any]) -> pd.Series:
    index = pd.to_datetime([row["time"] for row in doc["daily_results"]], utc=True)
    return pd.Series([row["equity"] for row in doc["daily_results"]], index=index)


def _recorded(api: Api, doc: dict[str, Any]) -> dict[str, Any]:
    response = api.record(document=doc)
    assert response.status_code == 201, response.text
    detail: dict[str, Any] = api.get(f"/api/v1/backtests/{response.json()['backtest_id']}").json()
    return detail


def test_an_hourly_24_7_backtest_is_annualised_by_8760_and_keyed_by_utc_times(api: Api) -> None:
    doc = hourly(24 * 9)  # nine days, so weekends are in it
    detail = _recorded(api, doc)
    assert detail["periods_per_year"] == 365 * 24  # inferred: every day has its 24 bars
    assert detail["bar_size"] == "1h"
    assert detail["warnings"] == []
    first = detail["daily_results"][0]
    assert first["time"] == "2024-01-29T18:00:00Z" and "date" not in first
    assert detail["start_date"] == "2024-01-29"

    equity = _frame(doc)
    returns = pd.concat([pd.Series([CAPITAL]), equity.reset_index(drop=True)]).pct_change().dropna()
    sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(8760)
    assert detail["metrics"]["sharpe"] == pytest.approx(sharpe, rel=1e-9)
    assert detail["metrics"]["volatility"] == pytest.approx(
        returns.std(ddof=1) * math.sqrt(8760), rel=1e-9
    )
    total = equity.iloc[-1] / CAPITAL - 1
    assert detail["metrics"]["cagr"] == pytest.approx((1 + total) ** (8760 / len(returns)) - 1,
                                                      rel=1e-9)  # fmt: skip


def test_daily_csv_and_monthly_table_of_an_intraday_backtest(api: Api) -> None:
    doc = hourly(24 * 5)
    response = api.record(document=doc)
    backtest_id = response.json()["backtest_id"]

    daily = api.get(f"/api/v1/backtests/{backtest_id}/daily.csv")
    assert daily.status_code == 200
    assert daily.text.split("\r\n")[0] == "time,equity,return,drawdown"
    table = pd.read_csv(io.StringIO(daily.text), parse_dates=["time"])
    equity = _frame(doc)
    assert list(table["time"]) == list(equity.index)
    assert table["equity"].tolist() == equity.tolist()

    # months by UTC: 2024-01-29T18:00Z to 2024-02-03T17:00Z is January then February
    returns = pd.concat([pd.Series([CAPITAL], index=[equity.index[0] - pd.Timedelta("1h")]),
                         equity]).pct_change().dropna()  # fmt: skip
    by_month = (1 + returns).groupby(returns.index.strftime("%Y-%m")).prod() - 1
    monthly = pd.read_csv(io.StringIO(api.get(f"/api/v1/backtests/{backtest_id}/monthly.csv").text))
    assert monthly["month"].tolist() == ["2024-01", "2024-02"] == list(by_month.index)
    assert monthly["return"].to_numpy() == pytest.approx(by_month.to_numpy(), rel=1e-12)


def test_weekday_hourly_bars_need_periods_and_are_annualised_as_given(api: Api) -> None:
    doc = hourly(60, start="2024-01-01T14:00:00+00:00", weekdays_only=True)
    refused = api.record(document=doc)
    assert refused.status_code == 422
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/periods_per_year"]
    assert api.event_count() == 0

    doc["periods_per_year"] = 1638  # 252 days of 6.5 hours
    detail = _recorded(api, doc)
    assert detail["periods_per_year"] == 1638
    returns = pd.concat([pd.Series([CAPITAL]), _frame(doc).reset_index(drop=True)]).pct_change()
    returns = returns.dropna()
    assert detail["metrics"]["sharpe"] == pytest.approx(
        returns.mean() / returns.std(ddof=1) * math.sqrt(1638), rel=1e-9
    )


@pytest.mark.parametrize(
    ("start", "periods"),
    [("2024-01-01", 365),  # every calendar day: weekends in it
     ("2024-01-08", 252)],  # weekdays only (built below)
)  # fmt: skip
def test_daily_periods_are_inferred_from_the_dates(api: Api, start: str, periods: int) -> None:
    doc = backtest_document(days=40, start=dt.date.fromisoformat(start))
    doc.pop("periods_per_year")
    if periods == 252:
        doc["daily_results"] = [r for r in doc["daily_results"]
                                if dt.date.fromisoformat(r["date"]).weekday() < 5]  # fmt: skip
    detail = _recorded(api, doc)
    assert detail["periods_per_year"] == periods
    assert detail["bar_size"] == "1d"


def test_doubtful_submissions_are_kept_with_warnings_naming_the_fields(api: Api) -> None:
    doc = backtest_document(days=10, trades=3)  # 2024-01-01 to 10: weekends in it
    doc["interval"] = "1h"  # but the rows are a day apart
    doc["periods_per_year"] = 252
    doc["daily_results"][-1]["equity"] = None
    doc["trades"][1]["pnl"] = None
    doc["trades"][0]["pnl"], doc["trades"][2]["pnl"] = 5.0, -2.0
    detail = _recorded(api, doc)
    pointers = [w["pointer"] for w in detail["warnings"]]
    assert pointers == ["/interval", "/periods_per_year", "/daily_results/9/equity",
                        "/trades/1/pnl"]  # fmt: skip
    messages = {w["pointer"]: w["message"] for w in detail["warnings"]}
    assert "1h" in messages["/interval"] and "1d" in messages["/interval"]
    assert "/daily_results/8/equity" in messages["/daily_results/9/equity"]
    # the rules the warnings name: the last known equity, and a null pnl neither
    # a win nor a loss
    last_known = doc["daily_results"][8]["equity"]
    assert detail["metrics"]["total_return"] == pytest.approx(last_known / 10_000.0 - 1, rel=1e-12)
    assert detail["metrics"]["num_trades"] == 3
    assert detail["metrics"]["win_rate"] == 0.5
    assert detail["metrics"]["profit_factor"] == pytest.approx(2.5, rel=1e-12)


def test_with_the_last_equities_null_every_figure_covers_the_same_rows(api: Api) -> None:
    """Returns given on every row, equity null on the last ten: Sharpe, volatility,
    CAGR and the significance report's observations all stop where total return does,
    at the last known equity (Sharpe took all 60 returns before)."""
    doc = backtest_document(days=60, trades=0)
    doc["periods_per_year"] = 365
    equity = np.array([row["equity"] for row in doc["daily_results"]])
    returns = pd.Series(np.concatenate([[CAPITAL], equity])).pct_change().dropna().to_numpy()
    for n, row in enumerate(doc["daily_results"]):
        row["return"] = float(returns[n])
        if n >= 50:
            row["equity"] = None
    detail = _recorded(api, doc)
    covered = returns[:50]
    metrics = detail["metrics"]
    assert metrics["total_return"] == pytest.approx(equity[49] / CAPITAL - 1, rel=1e-12)
    expected_sharpe = covered.mean() / covered.std(ddof=1) * math.sqrt(365)
    assert metrics["sharpe"] == pytest.approx(expected_sharpe, rel=1e-9)
    assert metrics["volatility"] == pytest.approx(covered.std(ddof=1) * math.sqrt(365), rel=1e-9)
    expected_cagr = (equity[49] / CAPITAL) ** (365 / 50) - 1
    assert metrics["cagr"] == pytest.approx(expected_cagr, rel=1e-9)
    assert detail["conventions"]["quantstats"]["cagr"] == pytest.approx(expected_cagr, rel=1e-9)
    messages = {w["pointer"]: w["message"] for w in detail["warnings"]}
    assert (
        "through the last known one, /daily_results/49/equity"
        in messages["/daily_results/59/equity"]
    )
    report = api.get(f"/api/v1/backtests/{detail['backtest_id']}/significance", samples=100)
    assert report.status_code == 200, report.text
    assert report.json()["observations"] == 50


def _weekly(weeks: int) -> dict[str, Any]:
    doc = backtest_document(days=weeks, trades=0)
    first = dt.date(2024, 1, 1)
    for n, row in enumerate(doc["daily_results"]):
        row["date"] = (first + dt.timedelta(weeks=n)).isoformat()
    return doc


def _weekdays(days: int) -> dict[str, Any]:
    doc = backtest_document(days=days * 2, trades=0)
    rows = [r for r in doc["daily_results"] if dt.date.fromisoformat(r["date"]).weekday() < 5]
    doc["daily_results"] = rows[:days]
    return doc


@pytest.mark.parametrize(
    ("case", "given", "inferred"),
    [
        ("hourly-24-7", 365, 8760),
        ("weekly", 252, 52),
        ("weekdays", 365, 252),
        ("calendar-days", 252, 365),
    ],
)
def test_an_annualisation_far_from_the_rows_spacing_is_a_warning_naming_both(
    api: Api, case: str, given: int, inferred: int
) -> None:
    """Issue 31: 24/7 hourly bars at 365 (Sharpe 0.42 instead of 2.05), weekly rows at
    252 and weekday rows at 365 (vectorbt's freq="1D" on S&P data) were kept silently;
    only 252 on rows with weekends warned, advising 365 even for hourly bars."""
    doc = {"hourly-24-7": lambda: hourly(24 * 9), "weekly": lambda: _weekly(60),
           "weekdays": lambda: _weekdays(60),
           "calendar-days": lambda: backtest_document(days=60)}[case]()  # fmt: skip
    doc["interval"] = {"hourly-24-7": "1h", "weekly": "1w"}.get(case, "1d")
    doc["periods_per_year"] = given
    detail = _recorded(api, doc)
    assert detail["periods_per_year"] == given  # what was given is what is used
    [warning] = [w for w in detail["warnings"] if w["pointer"] == "/periods_per_year"]
    assert f"{given} periods a year given" in warning["message"]
    assert f"annualise with {inferred}" in warning["message"]
    equity = pd.concat([pd.Series([CAPITAL]), _frame_of(doc).reset_index(drop=True)])
    returns = equity.pct_change().dropna()
    sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(given)
    assert detail["metrics"]["sharpe"] == pytest.approx(sharpe, rel=1e-9)


@pytest.mark.parametrize(("case", "given"), [("weekdays", 252), ("weekdays", 260),
                                             ("calendar-days", 365), ("weekly", 52)])  # fmt: skip
def test_an_annualisation_within_a_tenth_of_the_spacing_is_no_warning(
    api: Api, case: str, given: int
) -> None:
    doc = {"weekly": lambda: _weekly(60), "weekdays": lambda: _weekdays(60),
           "calendar-days": lambda: backtest_document(days=60)}[case]()  # fmt: skip
    doc["interval"] = "1w" if case == "weekly" else "1d"
    doc["periods_per_year"] = given
    assert _recorded(api, doc)["warnings"] == []


def _frame_of(doc: dict[str, Any]) -> pd.Series:
    rows = doc["daily_results"]
    return _frame(doc) if "time" in rows[0] else pd.Series([r["equity"] for r in rows])


def _with_returns(doc: dict[str, Any]) -> list[float]:
    """The equity's own returns, by pandas, written into each row."""
    equity = pd.concat([pd.Series([CAPITAL]), _frame_of(doc).reset_index(drop=True)])
    returns = equity.pct_change().dropna().tolist()
    for row, r in zip(doc["daily_results"], returns, strict=True):
        row["return"] = r
    return returns


def test_returns_given_with_their_own_equity_are_no_warning(api: Api) -> None:
    doc = backtest_document(days=300)
    _with_returns(doc)
    assert _recorded(api, doc)["warnings"] == []


@pytest.mark.parametrize("case", ["one-100-times", "shifted-a-day"])
def test_a_return_that_contradicts_the_equity_is_a_warning_at_its_row(api: Api, case: str) -> None:
    """Issue 31: a return 100 times the true one made the volatility 15.2 instead of
    0.152, and returns shifted by a day changed the Sharpe, silently."""
    doc = backtest_document(days=300)
    returns = _with_returns(doc)
    if case == "one-100-times":
        doc["daily_results"][5]["return"] = returns[5] * 100
        pointer, count = "/daily_results/5/return", 1
    else:
        for row, r in zip(doc["daily_results"][1:], returns, strict=False):
            row["return"] = r
        pointer, count = "/daily_results/1/return", 299
    detail = _recorded(api, doc)
    [warning] = [w for w in detail["warnings"] if w["pointer"].endswith("/return")]
    assert warning["pointer"] == pointer and f"{count} row(s) disagree" in warning["message"]
    sent = pd.Series([row["return"] for row in doc["daily_results"]])
    assert detail["metrics"]["volatility"] == pytest.approx(
        sent.std(ddof=1) * math.sqrt(365),
        rel=1e-9,  # the given returns, as it says
    )


def test_a_negative_equity_is_a_warning_at_its_first_row(api: Api) -> None:
    """Issue 31: an account below zero was kept without a word."""
    doc = backtest_document(days=30)
    for row in doc["daily_results"][20:]:
        row["equity"] = -abs(row["equity"])
    pointers = {w["pointer"]: w["message"] for w in _recorded(api, doc)["warnings"]}
    assert "10 row(s) with a negative equity" in pointers["/daily_results/20/equity"]


@pytest.mark.parametrize(
    ("field", "moved_to"),
    [("entry_time", "2023-12-31T23:00:00+00:00"), ("exit_time", "2024-01-31T00:00:00+00:00")],
)
def test_a_trade_outside_the_series_span_is_a_warning(api: Api, field: str, moved_to: str) -> None:
    """Issue 31: a trade before the first bar or after the last was kept silently."""
    doc = backtest_document(days=30, trades=3)  # 2024-01-01 to 2024-01-30
    doc["trades"][1][field] = moved_to
    warnings = {w["pointer"]: w["message"] for w in _recorded(api, doc)["warnings"]}
    assert "1 trade(s) outside the series' span (2024-01-01 to 2024-01-30)" in warnings["/trades/1"]
    inside = backtest_document(days=30, trades=3)
    inside["trades"][1]["exit_time"] = "2024-01-30T23:59:59+00:00"  # the last bar's day
    assert _recorded(api, inside)["warnings"] == []


def test_a_clean_daily_backtest_has_no_warnings(api: Api) -> None:
    detail = _recorded(api, backtest_document(days=20))
    assert detail["warnings"] == [] and detail["bar_size"] == "1d"


def test_compare_and_significance_read_intraday_backtests(api: Api) -> None:
    intraday = api.record(document=hourly(24 * 40)).json()["backtest_id"]
    daily = api.record(document=backtest_document(days=60)).json()["backtest_id"]
    compared = api.get("/api/v1/backtests/compare", ids=f"{intraday},{daily}", points=100)
    assert compared.status_code == 200, compared.text
    curves = [c["curve"] for c in compared.json()["backtests"]]
    assert curves[0][0][0] == "2024-01-29T18:00:00Z" and curves[1][0][0] == "2024-01-01"
    assert all(len(curve) <= 100 for curve in curves)
    full = api.get("/api/v1/backtests/compare", ids=f"{intraday},{daily}")  # every bar
    assert len(full.json()["backtests"][0]["curve"]) == 24 * 40

    report = api.get(f"/api/v1/backtests/{intraday}/significance", samples=200)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["periods_per_year"] == 8760 and body["observations"] == 24 * 40


def test_the_report_page_of_an_intraday_backtest_names_its_bars_and_warnings(api: Api) -> None:
    from tests.api.test_pages_http import sign_in

    doc = hourly(24 * 9)  # a weekend in it: 24/7 bars, annualised by 8760
    doc["interval"] = "4h"  # the rows are an hour apart: a warning
    backtest_id = api.record(document=doc).json()["backtest_id"]
    sign_in(api, "alice")
    page = api.client.get(f"/backtests/{backtest_id}")
    assert page.status_code == 200
    assert "216 bars of 1h" in page.text and "8760 periods/year" in page.text
    assert "<code>/interval</code>: interval &#39;4h&#39; means bars 4h apart" in page.text
    assert 'data-convention="backtesting_py.sharpe"' in page.text
    assert "2024-01-29T18:00:00+00:00" in page.text  # the chart's span, in UTC


def test_walk_forward_on_hourly_bars_counts_a_year_as_8760_bars(api: Api) -> None:
    doc = hourly(13_140)  # a year and a half of hours
    backtest_id = api.record(document=doc).json()["backtest_id"]
    report = api.get(f"/api/v1/backtests/{backtest_id}/significance", samples=100).json()
    # one year in (8760 bars), a quarter out (2190), stepping a quarter: 2 windows
    equity = _frame(doc).to_numpy()
    returns = np.diff(np.r_[CAPITAL, equity]) / np.r_[CAPITAL, equity[:-1]]
    windows = [returns[s + 8760 : s + 8760 + 2190] for s in (0, 2190)]
    sharpes = [w.mean() / w.std(ddof=1) * math.sqrt(8760) for w in windows]
    walk = report["walk_forward"]
    assert walk["windows"] == 2
    assert walk["positive_share"] == sum(np.prod(1 + w) > 1 for w in windows) / 2
    assert walk["mean_oos_sharpe"] == pytest.approx(np.mean(sharpes), rel=1e-9)


def test_the_compare_page_draws_an_intraday_curve_beside_a_daily_one(api: Api) -> None:
    from tests.api.test_pages_http import sign_in

    intraday = api.record(document=hourly(24 * 9)).json()["backtest_id"]
    daily = api.record(document=backtest_document(days=30)).json()["backtest_id"]
    sign_in(api, "alice")
    page = api.client.get("/compare", params={"ids": [intraday, daily]})
    assert page.status_code == 200, page.text[:300]
    # one UTC axis from the daily curve's first midnight to the hourly curve's last bar
    assert "2024-01-01T00:00:00+00:00" in page.text
    assert "2024-02-07T17:00:00+00:00" in page.text


@pytest.mark.parametrize(
    ("bars", "growth", "periods"), [(3, 1.02**3, 1_000_000), (1_000, 4.0, 525_600)]
)
def test_an_annualisation_past_the_largest_double_is_a_null_figure(
    api: Api, bars: int, growth: float, periods: int
) -> None:
    """Issue 29, item 1: these were 500s (OverflowError in the conventions). +2 % a
    minute at 1,000,000 bars a year compounds to e^(1,000,000 x ln 1.02) and +300 % over
    1,000 minutes at 525,600 to e^(525.6 x ln 4) ≈ e^728.6: both past the largest
    double, e^709.78."""
    first = dt.datetime(2024, 3, 4, 14, 30, tzinfo=dt.UTC)
    doc = backtest_document(days=1, trades=0)
    doc.update(
        interval="1m", periods_per_year=periods,
        daily_results=[{"time": (first + dt.timedelta(minutes=i)).isoformat(),
                        "equity": CAPITAL * growth ** ((i + 1) / bars)} for i in range(bars)],
    )  # fmt: skip
    assert math.log(growth) * periods / bars > math.log(np.finfo(float).max)  # overflows
    detail = _recorded(api, doc)
    assert detail["metrics"]["cagr"] is None
    assert detail["conventions"]["backtesting_py"]["cagr"] is None
    assert detail["conventions"]["quantstats"]["cagr"] is None
    assert detail["metrics"]["total_return"] == pytest.approx(growth - 1)
