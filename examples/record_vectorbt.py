"""vectorbt's moving-average crossover on the S&P 500 (shipped with arch), into the ledger."""

import arch.data.sp500
import vectorbt as vbt

from backtest_ledger import Ledger

vbt.settings.returns["year_freq"] = "252 days"  # S&P sessions: 252 a year, not 365
close = arch.data.sp500.load()["Adj Close"]
fast, slow = vbt.MA.run(close, 10), vbt.MA.run(close, 30)
portfolio = vbt.Portfolio.from_signals(
    close, fast.ma_crossed_above(slow), fast.ma_crossed_below(slow),
    init_cash=10_000, fees=0.001, freq="1D",
)  # fmt: skip
ledger = Ledger()
print(ledger.record_vectorbt(portfolio, symbol="SPX", strategy="ma_cross",
                             parameters={"fast": 10, "slow": 30}))  # fmt: skip
