"""Adapters: the ``Ledger.record`` arguments of a result of backtesting.py, vectorbt
or backtrader, read from the library's own objects (duck-typed: none of the three is
imported, so the client needs none of them installed)."""

from backtest_ledger.adapters.backtesting_py import backtesting_fields
from backtest_ledger.adapters.backtrader_ import backtrader_fields
from backtest_ledger.adapters.vectorbt_ import vectorbt_fields

__all__ = ["backtesting_fields", "backtrader_fields", "vectorbt_fields"]
