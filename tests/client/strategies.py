"""backtesting.py's own example strategy, an SMA crossover, for the tests that run it."""

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
