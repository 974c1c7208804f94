"""The libraries' own example strategy, an SMA crossover, for the tests that run it:
backtesting.py's and backtrader's."""

from __future__ import annotations

from typing import Any


def sma_cross() -> Any:
    """The ``SmaCross`` strategy class of backtesting.py's quick start (10/30 SMAs);
    imported on call, so that collecting the suite does not load backtesting.py."""
    from backtesting import Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCross(Strategy):
        n1 = 10
        n2 = 30

        def init(self) -> None:
            self.sma1 = self.I(SMA, self.data.Close, self.n1)
            self.sma2 = self.I(SMA, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    return SmaCross


def backtrader_sma_cross() -> Any:
    """backtrader's quick-start ``SmaCross`` (``pfast``/``pslow`` SMAs, long only);
    imported on call, like ``sma_cross``."""
    import backtrader as bt

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        params = (("pfast", 10), ("pslow", 30))

        def __init__(self) -> None:
            fast, slow = bt.ind.SMA(period=self.p.pfast), bt.ind.SMA(period=self.p.pslow)
            self.crossover = bt.ind.CrossOver(fast, slow)

        def next(self) -> None:
            if not self.position:
                if self.crossover > 0:
                    self.buy()
            elif self.crossover < 0:
                self.close()

    return SmaCross


def ma_cross_portfolio(close: Any) -> Any:
    """vectorbt's 10/30 moving-average crossover on ``close``, 10,000 of cash, fees
    0.1 %, daily bars; imported on call, like ``sma_cross``."""
    import vectorbt as vbt

    fast, slow = vbt.MA.run(close, 10), vbt.MA.run(close, 30)
    return vbt.Portfolio.from_signals(
        close, fast.ma_crossed_above(slow), fast.ma_crossed_below(slow),
        init_cash=10_000, fees=0.001, freq="1D",
    )  # fmt: skip
