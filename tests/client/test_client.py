"""The client against the real app on both stores: recording from plain pandas (NaN as
null, naive times as UTC, numpy scalars, sides from signed sizes), reading back with
proper dtypes, errors as exceptions, bulk recording, search and the feed."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid

import numpy as np
import pandas as pd
import pytest

from backtest_ledger import (
    Conflict,
    InvalidBacktest,
    InvalidRequest,
    Ledger,
    NotAllowed,
    NotFound,
    RecordFailed,
    Unauthorized,
)
from tests.api.conftest import Api
from tests.client.conftest import QUICK


def _equity(days: int = 30, seed: int = 1) -> pd.Series:
    rng = np.random.default_rng(seed)
    values = 10_000 * np.cumprod(1 + rng.normal(0.001, 0.01, days))
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=days, freq="D"))


def test_plain_pandas_round_trips_with_nulls_and_utc_times(ledger: Ledger, api: Api) -> None:
    equity = _equity()
    equity.iloc[5] = np.nan
    trades = pd.DataFrame({
        "EntryTime": pd.to_datetime(["2024-01-02 09:30", "2024-01-05 10:00"]),  # naive: UTC
        "ExitTime": pd.to_datetime(["2024-01-03 16:00", "2024-01-08 15:00"]),
        "Size": [np.int64(80), np.int64(-80)],
        "EntryPrice": [100.0, 104.5], "ExitPrice": [102.0, 101.0],
        "PnL": [np.float64(160.0), np.float32(280.0)], "Fees": [1.0, np.nan],
    })  # fmt: skip
    columns = {"EntryTime": "entry_time", "ExitTime": "exit_time", "Size": "size",
               "EntryPrice": "entry_price", "ExitPrice": "exit_price", "PnL": "pnl",
               "Fees": "fees"}  # fmt: skip
    backtest_id = ledger.record(
        symbol="SPX", strategy="mean-reversion", equity=equity, trades=trades,
        trade_columns=columns, initial_capital=10_000, periods_per_year=365,
        parameters={"window": np.int64(20), "z": np.float64(1.5), "bands": (1, 2)},
    )  # fmt: skip
    detail = ledger.get(backtest_id)
    assert detail["parameters"] == {"window": 20, "z": 1.5, "bands": [1, 2]}
    daily = ledger.daily(backtest_id)
    assert str(daily["date"].dtype) == "datetime64[ns, UTC]"
    assert daily["equity"].dtype == np.float64 and math.isnan(daily["equity"].iloc[5])
    assert daily["equity"].drop(index=5).tolist() == equity.drop(equity.index[5]).tolist()
    got = ledger.trades(backtest_id)
    assert got["side"].tolist() == ["long", "short"]
    assert got["quantity"].tolist() == [80.0, 80.0]  # a size, the side says the direction
    assert got["entry_time"].tolist() == [pd.Timestamp("2024-01-02 09:30", tz="UTC"),
                                          pd.Timestamp("2024-01-05 10:00", tz="UTC")]  # fmt: skip
    assert got["pnl"].tolist() == [160.0, 280.0] and math.isnan(got["fees"].iloc[1])
    assert got["trade_no"].dtype == np.int64


@pytest.mark.parametrize(
    ("freq", "interval", "periods"),
    [("W-FRI", "1w", 52), ("B", "1d", 252), ("D", "1d", 365), ("MS", "1M", 12)],
)
def test_the_service_annualises_what_the_client_was_not_told(
    ledger: Ledger, freq: str, interval: str, periods: int
) -> None:
    """Issue 31: the client sent 252 whatever the bars, so weekly returns had a Sharpe
    of 1.899 where 0.863 was right, and ``periods_per_year=None`` was a TypeError."""
    rng = np.random.default_rng(7)
    returns = pd.Series(rng.normal(0.002, 0.02, 156),
                        index=pd.date_range("2021-01-01", periods=156, freq=freq))  # fmt: skip
    for given in ({}, {"periods_per_year": None}):
        backtest_id = ledger.record_returns(returns, symbol="SPX", strategy="weekly",
                                            interval=interval, **given)  # fmt: skip
        detail = ledger.get(backtest_id)
        assert detail["periods_per_year"] == periods and detail["warnings"] == []
        expected = returns.mean() / returns.std(ddof=1) * math.sqrt(periods)
        assert detail["metrics"]["sharpe"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_an_infinite_return_is_refused_naming_its_bar(ledger: Ledger, value: float) -> None:
    """Issue 31: r.iloc[300] = inf nulled every later equity, so the total return and
    drawdown covered rows 0-299 while the Sharpe covered all of them."""
    returns = pd.Series(0.001, index=pd.bdate_range("2024-01-01", periods=400))
    returns.iloc[300] = value
    with pytest.raises(ValueError, match=r"returns at 2025-02-24 00:00:00 is -?inf"):
        ledger.record_returns(returns, symbol="SPX", strategy="x")


def test_returns_in_percent_are_named_as_such(ledger: Ledger) -> None:
    """Issue 31: they were blamed on "a warm-up sent as 0" by the service."""
    rng = np.random.default_rng(11)
    percent = pd.Series(rng.normal(0.05, 1.5, 250), index=pd.bdate_range("2024-01-01", periods=250))
    with pytest.raises(ValueError, match="are these percentages"):
        ledger.record_returns(percent, symbol="SPX", strategy="pct")
    ledger.record_returns(percent / 100, symbol="SPX", strategy="pct")  # as fractions: taken


def test_returns_that_are_all_nan_give_no_total_return(ledger: Ledger) -> None:
    """Issue 31: they gave a flat equity, so a total return of 0.0."""
    returns = pd.Series(np.nan, index=pd.bdate_range("2024-01-01", periods=30))
    detail = ledger.get(ledger.record_returns(returns, symbol="SPX", strategy="none"))
    assert detail["metrics"]["total_return"] is None and detail["metrics"]["sharpe"] is None
    assert [w["pointer"] for w in detail["warnings"]] == ["/daily_results/29/equity"]


def test_hourly_returns_are_recorded_by_their_utc_times(ledger: Ledger) -> None:
    """Issue 31: they were refused as "the ledger records daily bars", and the daily
    rows of an intraday backtest read back with a time column of NaN."""
    rng = np.random.default_rng(5)
    hours = pd.date_range("2024-03-01", periods=24 * 10, freq="h", tz="Europe/Berlin")
    returns = pd.Series(rng.normal(0.0001, 0.003, len(hours)), index=hours)
    backtest_id = ledger.record_returns(returns, symbol="BTC", strategy="h", interval="1h")
    detail = ledger.get(backtest_id)
    assert detail["bar_size"] == "1h" and detail["periods_per_year"] == 8760
    assert detail["warnings"] == []
    daily = ledger.daily(backtest_id)
    assert str(daily["time"].dtype) == "datetime64[ns, UTC]"
    assert daily["time"].tolist() == list(hours.tz_convert("UTC"))
    expected = returns.mean() / returns.std(ddof=1) * math.sqrt(8760)
    assert detail["metrics"]["sharpe"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    "index",
    [pd.bdate_range("2024-01-02", periods=60, tz="America/New_York")
     + pd.Timedelta(hours=16),  # the close
     pd.bdate_range("2024-01-02", periods=60, tz="America/New_York").tz_convert("UTC")],
    ids=["close-in-new-york", "new-york-midnight-in-utc"],
)  # fmt: skip
def test_daily_bars_at_any_time_of_day_are_daily(ledger: Ledger, index: pd.Index) -> None:
    """Issue 31: these were refused as "bars within a day", though a day apart."""
    returns = pd.Series(np.random.default_rng(2).normal(0, 0.01, 60), index=index)
    detail = ledger.get(ledger.record_returns(returns, symbol="SPX", strategy="d"))
    assert detail["bar_size"] == "1d" and detail["periods_per_year"] == 252
    assert detail["start_date"] == "2024-01-02" and detail["end_date"] == f"{index[-1].date()}"


def test_an_index_of_numbers_is_a_type_error_before_anything_is_sent(ledger: Ledger) -> None:
    with pytest.raises(TypeError, match="int64 values, not dates or times"):
        ledger.record_returns(pd.Series([0.01, 0.02, -0.01]), symbol="SPX", strategy="n")


def test_returns_with_a_warm_up_are_nulls_not_zeros(ledger: Ledger) -> None:
    rng = np.random.default_rng(3)
    sessions = pd.bdate_range("2023-01-02", periods=300, tz="America/New_York")
    returns = pd.Series(rng.normal(0.0005, 0.01, 300), index=sessions)
    returns.iloc[:20] = np.nan  # the indicator's warm-up
    backtest_id = ledger.record_returns(returns, symbol="SPX", strategy="momentum")
    daily = ledger.daily(backtest_id)
    assert daily["return"].iloc[:20].isna().all()
    assert daily["date"].iloc[0] == pd.Timestamp("2023-01-02", tz="UTC")
    live = returns.dropna().to_numpy()
    sharpe = live.mean() / live.std(ddof=1) * math.sqrt(252)  # nulls skipped, not zeros
    assert ledger.get(backtest_id)["metrics"]["sharpe"] == pytest.approx(sharpe, rel=1e-12)


def test_weekday_hourly_bars_without_their_annualisation_are_refused(
    ledger: Ledger, api: Api
) -> None:
    """Hourly US equities annualise by 252 × 6.5 or 252 × 7: the session decides, so
    the service asks rather than guesses, naming the field."""
    hourly = pd.Series([1.0, 1.1], index=pd.to_datetime(["2024-01-02 10:00", "2024-01-02 11:00"]))
    with pytest.raises(InvalidBacktest) as refused:
        ledger.record(symbol="SPX", strategy="x", equity=hourly, interval="1h")
    assert [pointer for pointer, _ in refused.value.errors] == ["/periods_per_year"]
    assert api.event_count() == 0


def test_errors_are_exceptions_a_user_understands(ledger: Ledger, api: Api) -> None:
    with pytest.raises(InvalidBacktest) as invalid:
        ledger.record(symbol="SPX", strategy="", equity=_equity())
    assert invalid.value.status == 422
    assert any(pointer == "/strategy" for pointer, _ in invalid.value.errors)
    assert "/strategy" in str(invalid.value)
    with pytest.raises(NotFound):
        ledger.get(str(uuid.uuid4()))
    with pytest.raises(InvalidRequest, match="at offset 8"):
        ledger.search(where="sharpe >>> 1")
    auditor = Ledger(api_key=api.keys["carol"], client=api.client, retry=QUICK)
    with pytest.raises(NotAllowed):
        auditor.record(symbol="SPX", strategy="x", equity=_equity())
    stranger = Ledger(api_key="not-a-key", client=api.client, retry=QUICK)
    with pytest.raises(Unauthorized):
        stranger.get(str(uuid.uuid4()))
    assert api.event_count() == 0


def test_record_many_keeps_input_order_and_stops_at_the_first_refusal(
    ledger: Ledger, api: Api
) -> None:
    items = [{"symbol": f"S{i}", "strategy": "grid", "equity": _equity(seed=i)} for i in range(6)]
    ids = ledger.record_many(items, workers=4, progress=False)
    assert [ledger.get(i)["symbol"] for i in ids] == [f"S{i}" for i in range(6)]
    broken = [*items[:2], {**items[2], "strategy": ""}, *items[3:]]
    with pytest.raises(RecordFailed) as failed:
        ledger.record_many(broken, workers=1, progress=False)
    assert failed.value.index == 2 and isinstance(failed.value.cause, InvalidBacktest)
    assert api.event_count() == 6 + 2  # one worker: nothing after the refusal was sent


def test_search_and_the_experiment_table_have_parameter_columns(ledger: Ledger) -> None:
    for fast in (5, 10, 20):
        ledger.record(symbol="SPX", strategy="sma", equity=_equity(seed=fast),
                      parameters={"fast": fast, "slow": {"n": 50}}, experiment="grid")  # fmt: skip
    ledger.record(symbol="SPX", strategy="sma", equity=_equity(seed=99), parameters={"fast": 7})
    table = ledger.search(experiment="grid", where="parameters.fast >= 10", sort="-sharpe")
    assert sorted(table["param.fast"]) == [10, 20]
    assert table["sharpe"].is_monotonic_decreasing
    assert table["param.slow.n"].tolist() == [50, 50]
    assert str(table["created_at"].dtype) == "datetime64[ns, UTC]"
    every = ledger.search(where="parameters.fast < 10", sort="sharpe")
    assert sorted(every["param.fast"]) == [5, 7] and every["sharpe"].is_monotonic_increasing
    assert set(every.columns) >= {"backtest_id", "sharpe", "max_drawdown", "symbol"}
    assert len(ledger.experiment("grid")) == 3
    # 30 days from 2024-01-01 (``_equity``), as dates whichever way the table was read
    # (the list's pages gave NaN: a date is not a number)
    for read in (every, table, ledger.experiment("grid")):
        assert set(read["start_date"]) == {dt.date(2024, 1, 1)}
        assert set(read["end_date"]) == {dt.date(2024, 1, 30)}
    best = ledger.search(experiment="grid", sort="-sharpe", limit=2)
    assert (
        best["backtest_id"].tolist()
        == ledger.experiment("grid", sort="-sharpe")["backtest_id"].tolist()[:2]
    )
    assert best["param.fast"].notna().all()


@pytest.mark.feed
def test_reading_back_and_deleting(ledger: Ledger, api: Api) -> None:
    first = ledger.record(symbol="SPX", strategy="a", equity=_equity(200, seed=1))
    second = ledger.record(symbol="SPX", strategy="b", equity=_equity(200, seed=2))
    report = ledger.significance(first, samples=200, seed=1)
    assert report["samples"] == 200
    compared = ledger.compare([first, second], points=40)
    assert [c["summary"]["backtest_id"] for c in compared["backtests"]] == [first, second]
    assert all(len(c["curve"]) <= 40 for c in compared["backtests"])
    assert len(ledger.monthly(first)) == 7  # 200 days from January 1st
    ledger.delete(first)
    with pytest.raises(NotFound):
        ledger.get(first)
    assert [e["event_type"] for e in ledger.history(first)] == [
        "BacktestRecorded",
        "BacktestDeleted",
    ]
    auditor = Ledger(api_key=api.keys["carol"], client=api.client, retry=QUICK)
    events = list(auditor.events(after=0, limit=2))  # pages of two, read to the end
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    assert len(events) == api.event_count() == 3


@pytest.mark.parametrize(
    ("given", "message"),
    [(pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0]}), "not a DataFrame of 2 columns (a, b)"),
     (np.array([1.0, 1.1]), "not numpy.ndarray"),
     ([1.0, 1.1], "not builtins.list")],
    ids=["two-columns", "numpy", "list"],
)  # fmt: skip
def test_a_wrong_shape_is_a_type_error_naming_the_argument(
    ledger: Ledger, given: object, message: str
) -> None:
    """Issue 31: a TypeError from deep inside, or AttributeError '.empty'."""
    with pytest.raises(TypeError, match=f"equity must be a pandas Series.*{re.escape(message)}"):
        ledger.record(symbol="SPX", strategy="x", equity=given)


def test_a_one_column_frame_is_its_column_and_a_leading_nan_is_no_capital(
    ledger: Ledger,
) -> None:
    """Issue 31: the first value NaN gave "/initial_capital must be > 0"."""
    equity = _equity()
    equity.iloc[0] = np.nan
    detail = ledger.get(ledger.record(symbol="SPX", strategy="x", equity=equity.to_frame("eq")))
    assert detail["initial_capital"] == equity.iloc[1]
    assert detail["metrics"]["total_return"] == pytest.approx(
        equity.iloc[-1] / equity.iloc[1] - 1, rel=1e-12
    )


def test_search_without_an_experiment_reads_the_list_once_not_each_detail(
    ledger: Ledger, api: Api
) -> None:
    """98 rows were 98 detail requests (2–3 s); now one list request a page of 500."""
    for n in range(12):
        ledger.record(symbol="SPX", strategy="sma", equity=_equity(seed=n),
                      parameters={"fast": n, "nested": {"deep": [n, "x"]}},
                      provenance=False)  # fmt: skip
    paths: list[str] = []
    api.client.event_hooks["request"].append(lambda request: paths.append(request.url.path))
    table = ledger.search(where="parameters.fast >= 2", sort="sharpe")
    assert paths == ["/api/v1/backtests"]
    assert sorted(table["param.fast"]) == list(range(2, 12))
    pairs = zip(table["param.fast"], table["param.nested.deep"], strict=True)
    assert all(list(deep) == [fast, "x"] for fast, deep in pairs)  # each row its own
    # the top few, with their parameters: one request each way, no more rows than asked
    paths.clear()
    top = ledger.search(where="parameters.fast >= 2", sort="-sharpe", limit=3)
    assert paths == ["/api/v1/backtests"] and len(top) == 3
    assert top["sharpe"].tolist() == sorted(table["sharpe"], reverse=True)[:3]
    assert top["param.fast"].notna().all()


def test_analyse_waits_for_the_sweeps_analysis_and_gives_its_tables(
    analysing_ledger: Ledger,
) -> None:
    ledger = analysing_ledger
    from domain.overfitting import probability_of_backtest_overfitting

    rng = np.random.default_rng(21)
    index = pd.bdate_range("2020-01-01", periods=240)
    returns = rng.normal(0.0003, 0.01, (240, 6))
    items = [dict(returns=pd.Series(returns[:, n], index=index), symbol="SPX", strategy="sma",
                  experiment="grid", parameters={"fast": [5, 10, 20][n % 3],
                                                 "slow": [50, 100][n // 3]},
                  provenance=False) for n in range(6)]  # fmt: skip
    ids = ledger.record_many(items, workers=1, progress=False)  # recorded in this order
    found = ledger.analyse("grid", partitions=8, reps=100, seed=1)
    assert found.status == "done" and found.progress == 1.0
    expected = probability_of_backtest_overfitting(returns, 8, 252)
    assert found.pbo == expected.pbo and found.probability_of_loss == expected.probability_of_loss
    assert found.variants["backtest_id"].tolist() == ids
    assert found.variants["in_mcs"].dtype == bool and found.variants["in_mcs"].any()
    assert found.lambdas["count"].sum() == 70 and len(found.lambdas) == 20
    assert found.reality_check == found.spa["upper"] and 0 <= found.reality_check <= 1
    assert found.plateau_ratio is not None
    queued = ledger.analyse("grid", wait=False, partitions=8, reps=100, seed=1)
    assert queued.analysis_id == found.analysis_id and queued.status == "done"
    with pytest.raises(InvalidBacktest) as refused:
        ledger.analyse("grid", partitions=7)
    assert refused.value.errors[0][0] == "/partitions"


def test_a_mistake_is_excluded_from_the_trials_once_and_stays_listed(
    ledger: Ledger, api: Api
) -> None:
    days = pd.date_range("2024-01-01", periods=40, freq="D", tz="UTC")
    returns = pd.Series(np.random.default_rng(5).normal(0, 0.01, 40), index=days)
    ids = [ledger.record_returns(returns * (1 + n / 10), symbol="X", strategy="s",
                                 experiment="with-a-mistake") for n in range(3)]  # fmt: skip
    before = ledger.significance(ids[0])["dsr"]
    assert (before["trials"], before["excluded"]) == (3, 0)
    events = api.event_count()
    position = ledger.exclude(ids[2], "posted the fixture", idempotency_key="mistake-1")
    # a retry with the same key (an answer lost on the way) excludes nothing more
    assert ledger.exclude(ids[2], "posted the fixture", idempotency_key="mistake-1") == position
    assert api.event_count() == events + 1
    after = ledger.significance(ids[0])["dsr"]
    assert (after["trials"], after["recorded"], after["excluded"]) == (2, 3, 1)
    assert ids[2] in set(ledger.search(experiment="with-a-mistake")["backtest_id"])
    assert ledger.history(ids[2])[-1]["event_type"] == "BacktestExcludedFromTrials"
    with pytest.raises(Conflict):  # a second exclusion, under a new key
        ledger.exclude(ids[2], "again")
    with pytest.raises(InvalidBacktest):  # a reason of control characters only
        ledger.exclude(ids[1], "\x1b")
