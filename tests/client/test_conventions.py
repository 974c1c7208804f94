"""The detail's ``conventions`` block, checked against the libraries themselves: a
backtesting.py run recorded through the client gives, under
``conventions.backtesting_py``, the figures of that run's own ``stats``; and
``conventions.quantstats`` holds what ``quantstats.stats`` computes from the ledger's
returns. On the S&P 500 (weekday bars, 252) and on a 60 %-volatility series that
trades every day (365), where the libraries' conventions are furthest apart."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtest_ledger import Ledger
from tests.client.strategies import sma_cross

# figure in the block: backtesting.py's stats key, and its scale (it prints percent)
BACKTESTING_KEYS = {
    "total_return": ("Return [%]", 100),
    "annual_return": ("Return (Ann.) [%]", 100),
    "cagr": ("CAGR [%]", 100),
    "volatility": ("Volatility (Ann.) [%]", 100),
    "sharpe": ("Sharpe Ratio", 1),
    "sortino": ("Sortino Ratio", 1),
    "max_drawdown": ("Max. Drawdown [%]", 100),
    "calmar": ("Calmar Ratio", 1),
    "win_rate": ("Win Rate [%]", 100),
    "profit_factor": ("Profit Factor", 1),
}


def _sma_cross_run(ohlc: pd.DataFrame) -> pd.Series:
    from backtesting import Backtest

    SmaCross = sma_cross()
    backtest = Backtest(ohlc, SmaCross, cash=10_000, commission=0.002, finalize_trades=True)
    stats: pd.Series = backtest.run()
    return stats


def _volatile_every_day() -> pd.DataFrame:
    """Six years of a 60 %-a-year random walk, bars every calendar day (crypto)."""
    rng = np.random.default_rng(7)
    index = pd.date_range("2018-01-01", periods=6 * 365, freq="D")
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.6 / np.sqrt(365), len(index))))
    opens = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 0.01, len(index))) * close
    return pd.DataFrame({"Open": opens, "High": np.maximum(opens, close) + spread,
                         "Low": np.minimum(opens, close) - spread, "Close": close,
                         "Volume": 1_000.0}, index=index)  # fmt: skip


def _check_against_both(ledger: Ledger, stats: pd.Series, periods: int) -> dict[str, Any]:
    import quantstats as qs

    backtest_id = ledger.record_backtesting(stats, symbol="X")
    detail = ledger.get(backtest_id)
    assert detail["periods_per_year"] == periods
    block = detail["conventions"]["backtesting_py"]
    for name, (key, scale) in BACKTESTING_KEYS.items():
        assert block[name] * scale == pytest.approx(stats[key], rel=1e-9, abs=1e-12), name

    daily = ledger.daily(backtest_id)
    returns = pd.Series(daily["return"].to_numpy(), index=pd.DatetimeIndex(daily["date"]))
    returns = returns.dropna()
    figures = detail["conventions"]["quantstats"]
    expected = {
        "cagr": qs.stats.cagr(returns, periods=periods),
        "volatility": qs.stats.volatility(returns, periods=periods),
        "sharpe": qs.stats.sharpe(returns, periods=periods),
        "sortino": qs.stats.sortino(returns, periods=periods),
        "max_drawdown": qs.stats.max_drawdown(returns),
        "calmar": qs.stats.calmar(returns, periods=periods),
        "win_rate": qs.stats.win_rate(returns),
        "profit_factor": qs.stats.profit_factor(returns),
    }
    for name, value in expected.items():
        assert figures[name] == pytest.approx(float(value), rel=1e-9, abs=1e-12), name
    # where quantstats' convention is the ledger's, the figures are the ledger's own
    for name in ("cagr", "volatility", "sharpe", "sortino"):
        assert figures[name] == pytest.approx(detail["metrics"][name], rel=1e-12), name
    return detail


# backtesting.py's own call, deprecated by pandas 3
@pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofweek is deprecated")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # quantstats' imports, on pandas 3
def test_conventions_of_a_weekday_daily_run(ledger: Ledger, sp500: pd.DataFrame) -> None:
    stats = _sma_cross_run(sp500[["Open", "High", "Low", "Close", "Volume"]])
    detail = _check_against_both(ledger, stats, 252)
    # the gap users report as a bug: backtesting.py's geometric Sharpe is not the
    # ledger's arithmetic one
    ours, theirs = detail["metrics"]["sharpe"], detail["conventions"]["backtesting_py"]["sharpe"]
    assert abs(ours - theirs) > 0.01
    # a sweep's table carries them as columns when asked
    ledger.record_backtesting(stats, symbol="X", experiment="conventions")
    table = ledger.experiment("conventions", conventions=True)
    assert table["backtesting_py.sharpe"].tolist() == pytest.approx([stats["Sharpe Ratio"]])
    assert "backtesting_py.sharpe" not in ledger.experiment("conventions").columns


@pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofweek is deprecated")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_conventions_of_a_volatile_run_that_trades_every_day(ledger: Ledger) -> None:
    stats = _sma_cross_run(_volatile_every_day())
    detail = _check_against_both(ledger, stats, 365)
    ours, theirs = detail["metrics"]["sharpe"], detail["conventions"]["backtesting_py"]["sharpe"]
    assert abs(ours - theirs) > 0.05


@pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofweek is deprecated")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_quantstats_greeks_and_information_ratio_against_the_benchmark(
    ledger: Ledger, sp500: pd.DataFrame
) -> None:
    """greeks() and information_ratio() of quantstats itself, on the pairs of the
    ledger's returns and its benchmark (backtesting.py's data held)."""
    import quantstats as qs
    from backtesting import Backtest

    ohlc = sp500[["Open", "High", "Low", "Close", "Volume"]]
    backtest = Backtest(ohlc, sma_cross(), cash=10_000, commission=0.002, finalize_trades=True)
    backtest_id = ledger.record_backtesting(backtest.run(), symbol="X", backtest=backtest)
    detail = ledger.get(backtest_id)
    daily = ledger.daily(backtest_id)
    index = pd.DatetimeIndex(daily["date"]).tz_convert(None)  # quantstats compares naive
    both = pd.DataFrame({"r": daily["return"].to_numpy(), "b": daily["benchmark_return"]
                         .to_numpy()}, index=index).dropna()  # fmt: skip
    greeks = qs.stats.greeks(both["r"], both["b"], periods=252)
    figures = detail["conventions"]["quantstats"]
    assert figures["beta"] == pytest.approx(greeks["beta"], rel=1e-9)
    assert figures["alpha"] == pytest.approx(greeks["alpha"], rel=1e-9)
    ratio = qs.stats.information_ratio(both["r"], both["b"])
    assert figures["information_ratio"] == pytest.approx(ratio, rel=1e-9)
    # the same beta as the ledger's; alpha and the ratio are conventions apart
    assert figures["beta"] == pytest.approx(detail["metrics"]["beta"], rel=1e-12)
    assert figures["information_ratio"] * np.sqrt(252) == pytest.approx(
        detail["metrics"]["information_ratio"], rel=1e-12
    )
