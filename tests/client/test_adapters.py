"""Each adapter runs its library's own example strategy (an SMA crossover) on the S&P
500's daily bars, records through the ledger and reads back: the trades equal the
library's, and the ledger's metrics equal the library's own figures where the
conventions are the same — where they differ, the test names the library's
convention and recomputes its figure from what the ledger stored."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtest_ledger import Ledger, OpenTradesLeftOut
from tests.client.strategies import backtrader_sma_cross, ma_cross_portfolio, sma_cross


def _same(values: Any, expected: Any) -> None:
    assert np.asarray(values, dtype=float).tolist() == np.asarray(expected, dtype=float).tolist()


def _utc(times: Any) -> list[pd.Timestamp]:
    return [pd.Timestamp(t).tz_localize("UTC") for t in times]


# backtesting.py's own call, deprecated by pandas 3
@pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofweek is deprecated")
def test_backtesting_py(ledger: Ledger, sp500: pd.DataFrame) -> None:
    from backtesting import Backtest

    SmaCross = sma_cross()
    ohlc = sp500[["Open", "High", "Low", "Close", "Volume"]]
    backtest = Backtest(ohlc, SmaCross, cash=10_000, commission=0.002, finalize_trades=True)
    stats = backtest.run(n1=12)
    backtest_id = ledger.record_backtesting(stats, symbol="SPX", experiment="sma-grid")

    detail = ledger.get(backtest_id)
    assert detail["strategy"] == "SmaCross"
    assert detail["parameters"] == {"n1": 12, "n2": 30}
    assert detail["experiment"] == "sma-grid" and detail["periods_per_year"] == 252
    lib = stats["_trades"]
    trades = ledger.trades(backtest_id)
    assert len(trades) == len(lib) == stats["# Trades"] > 100
    assert trades["side"].tolist() == ["long" if s > 0 else "short" for s in lib["Size"]]
    _same(trades["quantity"], lib["Size"].abs())
    _same(trades["entry_price"], lib["EntryPrice"])
    _same(trades["exit_price"], lib["ExitPrice"])
    _same(trades["pnl"], lib["PnL"])
    _same(trades["fees"], lib["Commission"])
    assert trades["entry_time"].tolist() == _utc(lib["EntryTime"])
    assert str(trades["exit_time"].dtype) == "datetime64[ns, UTC]"

    m = detail["metrics"]
    assert m["num_trades"] == stats["# Trades"]
    assert m["total_return"] * 100 == pytest.approx(stats["Return [%]"], rel=1e-12)
    assert m["max_drawdown"] * 100 == pytest.approx(stats["Max. Drawdown [%]"], rel=1e-12)
    assert m["win_rate"] * 100 == pytest.approx(stats["Win Rate [%]"], rel=1e-12)

    daily = ledger.daily(backtest_id)
    assert len(daily) == len(ohlc)
    _same(daily["equity"], stats["_equity_curve"]["Equity"])
    # CAGR: backtesting.py compounds over calendar years of 365.25 days from the first
    # bar to the last; the ledger (docs/explanation/metrics.md) over n returns at 252 a year.
    years = (daily["date"].iloc[-1] - daily["date"].iloc[0]).days / 365.25
    growth = 1 + m["total_return"]
    assert stats["CAGR [%]"] / 100 == pytest.approx(growth ** (1 / years) - 1, rel=1e-9)
    assert m["cagr"] == pytest.approx(growth ** (252 / len(daily)) - 1, rel=1e-12)
    # Sharpe: backtesting.py's is its geometric annual return over a compounded annual
    # volatility (ddof=1, 252 bars) of the bar returns after the first; the ledger's the
    # arithmetic mean over std(ddof=1) times sqrt(252) of every return (the ledger's).
    r = daily["return"].to_numpy()
    g = math.exp(np.log1p(r[1:]).mean()) - 1
    annual = (1 + g) ** 252 - 1
    volatility = math.sqrt((r[1:].var(ddof=1) + (1 + g) ** 2) ** 252 - (1 + g) ** (2 * 252))
    assert stats["Sharpe Ratio"] == pytest.approx(annual / volatility, rel=1e-9)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252), rel=1e-12)


@contextmanager
def _left_out(open_trades: int) -> Iterator[None]:
    """Expect the adapter's one warning that ``open_trades`` (the library's own count of
    trades open at the end) were not recorded, or none when there are none (issue 31:
    vectorbt's 48 trades became 47 and backtrader's 63 became 62 without a word)."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        yield
    left_out = [str(w.message) for w in said if issubclass(w.category, OpenTradesLeftOut)]
    assert [m.partition(" still open")[0] for m in left_out] == (
        [f"{open_trades} trade(s)"] if open_trades else []
    ), left_out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # vectorbt's own, on pandas 3
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_vectorbt(ledger: Ledger, sp500: pd.DataFrame) -> None:
    import vectorbt as vbt

    close = sp500["Adj Close"]
    portfolio = ma_cross_portfolio(close)
    records = portfolio.trades.records_readable
    with _left_out(int((records["Status"] == "Open").sum())):
        backtest_id = ledger.record_vectorbt(portfolio, symbol="SPX", strategy="sma_cross",
                                             parameters={"fast": 10, "slow": 30})  # fmt: skip
    detail = ledger.get(backtest_id)
    # vectorbt annualises by its year_freq (365 days) over the bar's freq (1 day): kept,
    # with a warning that S&P sessions (weekdays) annualise with 252
    assert detail["periods_per_year"] == 365
    [warning] = [w for w in detail["warnings"] if w["pointer"] == "/periods_per_year"]
    assert "365 periods a year given" in warning["message"] and "with 252" in warning["message"]
    assert detail["parameters"] == {"fast": 10, "slow": 30}
    stats = portfolio.stats()
    lib = portfolio.trades.records_readable
    lib = lib[lib["Status"] == "Closed"]
    trades = ledger.trades(backtest_id)
    assert len(trades) == len(lib) == stats["Total Closed Trades"] > 50
    assert trades["side"].tolist() == [d.lower() for d in lib["Direction"]]
    _same(trades["quantity"], lib["Size"])
    _same(trades["entry_price"], lib["Avg Entry Price"])
    _same(trades["exit_price"], lib["Avg Exit Price"])
    _same(trades["pnl"], lib["PnL"])
    assert trades["entry_time"].tolist() == _utc(lib["Entry Timestamp"])

    m = detail["metrics"]
    assert m["total_return"] * 100 == pytest.approx(stats["Total Return [%]"], rel=1e-12)
    # vectorbt reports the drawdown as a positive percentage
    assert -m["max_drawdown"] * 100 == pytest.approx(stats["Max Drawdown [%]"], rel=1e-12)
    assert m["win_rate"] * 100 == pytest.approx(stats["Win Rate [%]"], rel=1e-12)
    # the same convention as the ledger's: mean / std(ddof=1) * sqrt(365), every return
    assert m["sharpe"] == pytest.approx(stats["Sharpe Ratio"], rel=1e-9)
    assert m["profit_factor"] == pytest.approx(stats["Profit Factor"], rel=1e-9)

    # the README's advice for trading days: vectorbt's factor becomes 252, no warning
    year = vbt.settings.returns["year_freq"]
    vbt.settings.returns["year_freq"] = "252 days"
    try:
        sessions = ma_cross_portfolio(close)
        with _left_out(int((records["Status"] == "Open").sum())):
            trading_days = ledger.get(ledger.record_vectorbt(sessions, symbol="SPX", strategy="x"))
    finally:
        vbt.settings.returns["year_freq"] = year
    assert trading_days["periods_per_year"] == 252 and trading_days["warnings"] == []
    assert trading_days["metrics"]["sharpe"] == pytest.approx(
        m["sharpe"] * math.sqrt(252 / 365), rel=1e-9
    )

    # bought on the first crossing and never sold: vectorbt's one trade is open at the end
    never = pd.Series(False, index=close.index)
    fast, slow = vbt.MA.run(close, 10), vbt.MA.run(close, 30)
    held = vbt.Portfolio.from_signals(close, fast.ma_crossed_above(slow), never,
                                      init_cash=10_000, freq="1D")  # fmt: skip
    open_at_end = int((held.trades.records_readable["Status"] == "Open").sum())
    assert open_at_end == 1
    with _left_out(open_at_end):
        held_id = ledger.record_vectorbt(held, symbol="SPX", strategy="held")
    assert ledger.trades(held_id).empty


def test_a_backtrader_position_still_open_is_named_not_recorded(
    ledger: Ledger, sp500: pd.DataFrame
) -> None:
    import backtrader as bt

    class BuyAndHold(bt.Strategy):  # type: ignore[misc]
        def next(self) -> None:
            if not self.position:
                self.buy()

    cerebro = bt.Cerebro(tradehistory=True)
    cerebro.adddata(bt.feeds.PandasData(dataname=sp500.iloc[:300]))
    cerebro.addstrategy(BuyAndHold)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer)
    [strategy] = cerebro.run()
    analysis = strategy.analyzers.tradeanalyzer.get_analysis()
    assert (analysis.total.get("open", 0), analysis.total.get("closed", 0)) == (1, 0)
    with _left_out(1):
        backtest_id = ledger.record_backtrader(strategy, symbol="SPX")
    assert ledger.trades(backtest_id).empty


def test_backtrader(ledger: Ledger, sp500: pd.DataFrame) -> None:
    import backtrader as bt

    SmaCross = backtrader_sma_cross()

    cerebro = bt.Cerebro(tradehistory=True)
    cerebro.adddata(bt.feeds.PandasData(dataname=sp500))
    cerebro.addstrategy(SmaCross, pslow=40)
    cerebro.broker.setcash(10_000)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.addsizer(bt.sizers.FixedSize, stake=5)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer)
    cerebro.addanalyzer(bt.analyzers.DrawDown)
    [strategy] = cerebro.run()
    analysis = strategy.analyzers.tradeanalyzer.get_analysis()
    with _left_out(analysis.total.get("open", 0)):
        backtest_id = ledger.record_backtrader(strategy, symbol="SPX")

    detail = ledger.get(backtest_id)
    assert detail["strategy"] == "SmaCross"
    assert detail["parameters"] == {"pfast": 10, "pslow": 40}
    trades = ledger.trades(backtest_id)
    # a trade's return: its net pnl over what its entry took (issue 31: it was empty),
    # from backtrader's own trades: pnlcomm over the opening order's price × stake
    closed = sorted((t for by_id in strategy._trades.values() for listed in by_id.values()
                     for t in listed if t.isclosed), key=lambda t: t.dtopen)  # fmt: skip
    _same(trades["return"], [t.pnlcomm / (t.history[0].event.price * 5) for t in closed])
    assert len(trades) == analysis.total.closed > 30
    assert (trades["side"] == "long").all()
    _same(trades["quantity"], [5.0] * len(trades))
    assert trades["pnl"].sum() == pytest.approx(analysis.pnl.net.total, rel=1e-12)
    assert (trades["pnl"] > 0).sum() == analysis.won.total
    # each trade's pnl before commission is its size times its price change
    gross = trades["pnl"] + trades["fees"]
    _same(gross.round(6), (5 * (trades["exit_price"] - trades["entry_price"])).round(6))

    m = detail["metrics"]
    assert m["total_return"] == pytest.approx(cerebro.broker.getvalue() / 10_000 - 1, rel=1e-12)
    assert m["win_rate"] == pytest.approx(analysis.won.total / analysis.total.closed, rel=1e-12)
    drawdown = strategy.analyzers.drawdown.get_analysis()
    # backtrader's DrawDown analyzer reports the deepest fall in percent, positive
    assert -m["max_drawdown"] * 100 == pytest.approx(drawdown.max.drawdown, rel=1e-9)
