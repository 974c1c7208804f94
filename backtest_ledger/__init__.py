"""The Python client of a backtest-ledger service: record a backtest in one line from
backtesting.py, vectorbt, backtrader or plain pandas, and read it back as DataFrames.

    from backtest_ledger import Ledger
    ledger = Ledger()   # BACKTEST_LEDGER_URL, BACKTEST_LEDGER_API_KEY
    backtest_id = ledger.record_backtesting(stats, symbol="SPX", experiment="sma-grid")
"""

from backtest_ledger.adapters.open_trades import OpenTradesLeftOut
from backtest_ledger.analysis import Analysis
from backtest_ledger.client import Ledger
from backtest_ledger.errors import (
    Conflict,
    InvalidBacktest,
    InvalidRequest,
    LedgerError,
    NotAllowed,
    NotFound,
    RecordFailed,
    ServiceUnavailable,
    Unauthorized,
)
from backtest_ledger.transport import RetryPolicy

__all__ = ["Analysis", "Conflict", "InvalidBacktest", "InvalidRequest", "Ledger", "LedgerError",
           "NotAllowed", "NotFound", "OpenTradesLeftOut", "RecordFailed", "RetryPolicy",
           "ServiceUnavailable", "Unauthorized"]  # fmt: skip
