"""backtesting.py's SMA crossover on the S&P 500 (arch's) into the ledger, with its provenance."""

import arch.data.sp500
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

from backtest_ledger import Ledger


class SmaCross(Strategy):
    n1, n2 = 10, 30

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


bars = arch.data.sp500.load()[["Open", "High", "Low", "Close", "Volume"]]
bt = Backtest(bars, SmaCross, cash=10_000, commission=0.002, finalize_trades=True)
print(Ledger().record_backtesting(bt.run(), symbol="SPX", experiment="sma-grid", backtest=bt))
