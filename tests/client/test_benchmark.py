"""The adapters fill the benchmark from what each library holds, on real runs of the
libraries over arch's S&P 500, and ``benchmark=`` takes one explicitly; the figures
against it are searchable from the client."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest

from backtest_ledger import Ledger
from tests.client.strategies import ma_cross_portfolio, sma_cross


@pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofweek is deprecated")
def test_backtesting_py_holds_the_data_as_its_benchmark(
    ledger: Ledger, sp500: pd.DataFrame
) -> None:
    from backtesting import Backtest

    bars = sp500[["Open", "High", "Low", "Close", "Volume"]]
    bt = Backtest(bars, sma_cross(), cash=10_000, commission=0.002, finalize_trades=True)
    stats = bt.run()
    backtest_id = ledger.record_backtesting(stats, symbol="SPX", backtest=bt)
    detail = ledger.get(backtest_id)
    # backtesting.py's own "Buy & Hold Return" is the benchmark's total return
    relative = detail["relative"]
    assert relative["benchmark_total_return"] * 100 == pytest.approx(
        stats["Buy & Hold Return [%]"], rel=1e-9
    )
    daily = ledger.daily(backtest_id)
    expected = bars["Close"].pct_change().to_numpy().copy()
    expected[:30] = np.nan  # held from the bar the 30-bar SMA is first known
    np.testing.assert_allclose(daily["benchmark_return"].to_numpy(), expected, rtol=1e-15)
    r = stats["_equity_curve"]["Equity"].pct_change()
    _, beta = empyrical.alpha_beta(r.to_numpy(), expected, annualization=252)
    assert detail["metrics"]["beta"] == pytest.approx(beta, rel=1e-9)
    # without the Backtest there is no data to hold: no benchmark, no figures
    bare = ledger.get(ledger.record_backtesting(stats, symbol="SPX"))
    assert bare["relative"]["pairs"] == 0 and bare["metrics"]["beta"] is None


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_vectorbt_records_its_own_benchmark(ledger: Ledger, sp500: pd.DataFrame) -> None:
    portfolio = ma_cross_portfolio(sp500["Adj Close"])
    backtest_id = ledger.record_vectorbt(portfolio, symbol="SPX", strategy="ma_cross")
    detail = ledger.get(backtest_id)
    benchmark = portfolio.benchmark_returns()
    daily = ledger.daily(backtest_id)
    np.testing.assert_allclose(daily["benchmark_return"], benchmark.to_numpy(), rtol=1e-15)
    assert detail["relative"]["benchmark_total_return"] == pytest.approx(
        portfolio.total_benchmark_return(), rel=1e-9
    )
    returns = portfolio.returns()
    alpha, beta = empyrical.alpha_beta(returns, benchmark, annualization=365)
    assert detail["metrics"]["beta"] == pytest.approx(beta, rel=1e-9)
    assert detail["metrics"]["alpha"] == pytest.approx(alpha, rel=1e-9)


def test_backtrader_holds_its_first_feed(ledger: Ledger, sp500: pd.DataFrame) -> None:
    import backtrader as bt

    class Hold(bt.Strategy):
        def next(self) -> None:
            if not self.position:
                self.buy(size=5)

    cerebro = bt.Cerebro(tradehistory=True)
    cerebro.adddata(bt.feeds.PandasData(dataname=sp500))
    cerebro.addstrategy(Hold)
    [strategy] = cerebro.run()
    with pytest.warns(UserWarning):  # the position is still open at the end
        backtest_id = ledger.record_backtrader(strategy, symbol="SPX")
    detail = ledger.get(backtest_id)
    close = sp500["Close"]
    daily = ledger.daily(backtest_id)
    np.testing.assert_allclose(daily["benchmark_return"], close.pct_change(), rtol=1e-12)
    # over the pairs (every bar but the first): the close's own growth
    assert detail["relative"]["benchmark_total_return"] == pytest.approx(
        close.iloc[-1] / close.iloc[0] - 1, rel=1e-9
    )
    assert detail["relative"]["correlation"] > 0.5  # it holds the index


def test_an_explicit_benchmark_is_aligned_and_a_missing_bar_is_named(
    ledger: Ledger, sp500: pd.DataFrame
) -> None:
    close = sp500["Adj Close"]
    index = close.pct_change()
    tracker = index - 0.001  # a costly index tracker: beating it is easy, its beta is 1
    held = (close.pct_change(20).shift(1) > 0).astype(float)
    ids = {}
    for leverage in (0.5, 3.0):
        returns = index * held * leverage
        returns.iloc[:21] = math.nan
        ids[leverage] = ledger.record_returns(
            returns, symbol="SPX", strategy="momentum", experiment="levered",
            parameters={"leverage": leverage}, benchmark=tracker.iloc[::-1],  # in any order
        )  # fmt: skip
    low = ledger.search(experiment="levered", where="beta < 0.8 and information_ratio > 0")
    assert low["backtest_id"].tolist() == [ids[0.5]]
    assert low["beta"].iloc[0] == pytest.approx(
        empyrical.beta((index * held * 0.5).iloc[21:], tracker.iloc[21:]), rel=1e-9
    )
    shifted = index.copy()
    shifted.index = shifted.index + pd.Timedelta(days=1)
    with pytest.raises(ValueError, match="no value for 1999-01-04"):
        ledger.record_returns(index, symbol="SPX", strategy="x", benchmark=shifted)
