"""backtrader's SMA crossover on the S&P 500 (shipped with arch), into the ledger."""

import arch.data.sp500
import backtrader as bt

from backtest_ledger import Ledger


class SmaCross(bt.Strategy):
    params = (("pfast", 10), ("pslow", 30))

    def __init__(self):
        sma = bt.ind.SMA
        self.crossover = bt.ind.CrossOver(sma(period=self.p.pfast), sma(period=self.p.pslow))

    def next(self):
        if not self.position and self.crossover > 0:
            self.buy()
        elif self.position and self.crossover < 0:
            self.close()


cerebro = bt.Cerebro(tradehistory=True)  # closed trades keep their sizes and prices
cerebro.adddata(bt.feeds.PandasData(dataname=arch.data.sp500.load()))
cerebro.addstrategy(SmaCross)
cerebro.addsizer(bt.sizers.FixedSize, stake=5)
[strategy] = cerebro.run()
print(Ledger().record_backtrader(strategy, symbol="SPX"))
