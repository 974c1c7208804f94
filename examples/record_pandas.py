"""A momentum rule's daily returns from plain pandas, into the ledger, and read back."""

import arch.data.sp500

from backtest_ledger import Ledger

close = arch.data.sp500.load()["Adj Close"]
held = close.pct_change(20).shift(1) > 0  # long after a rising month, else flat
returns = close.pct_change().where(held, 0.0)
returns.iloc[:21] = float("nan")  # the warm-up: no signal yet, recorded as null

ledger = Ledger()
backtest_id = ledger.record_returns(  # data=: the prices' fingerprint, in the provenance
    returns, symbol="SPX", strategy="momentum-20", parameters={"lookback": 20}, data=close
)
print(backtest_id)
print(ledger.daily(backtest_id).tail(3))
