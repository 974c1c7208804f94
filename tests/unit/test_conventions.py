"""The conventions block on series small enough to work out by hand.

Equity 100, 110, 99, 108.9 on four weekdays: backtesting.py's bar returns are +10 %,
−10 %, +10 % (from the first bar's equity), their geometric mean g = (1.1·0.9·1.1)^(1/3)
− 1, P = 252 (no weekend). The ledger's returns from a capital of 100 add a first 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from domain.conventions import backtesting_py, conventions, quantstats
from domain.series import effective_returns
from domain.submission import submission_from_document

DOC = {
    "symbol": "SPY", "interval": "1d", "strategy": "hand", "test_mode": "backtest",
    "market_type": "spot", "initial_capital": 100.0,
    "daily_results": [{"date": d, "equity": e} for d, e in
                      [("2024-01-01", 100.0), ("2024-01-02", 110.0), ("2024-01-03", 99.0),
                       ("2024-01-04", 108.9)]],
    "trades": [
        {"entry_time": "2024-01-01T00:00:00Z", "exit_time": "2024-01-02T00:00:00Z",
         "side": side, "entry_price": 10.0, "exit_price": 11.0, "quantity": 2.0,
         "pnl": pnl, "fees": 0.2}
        for side, pnl in (("long", 1.8), ("short", -2.2))
    ],
}  # fmt: skip
SUB = submission_from_document(DOC)[0]
close = pytest.approx


def test_backtesting_py_by_hand() -> None:
    figures = backtesting_py(SUB)
    g = (1.1 * 0.9 * 1.1) ** (1 / 3) - 1
    annual = (1 + g) ** 252 - 1
    variance = float(np.var([0.1, -0.1, 0.1], ddof=1))
    volatility = math.sqrt((variance + (1 + g) ** 2) ** 252 - (1 + g) ** 504)
    assert figures.total_return == close(0.089, rel=1e-12)
    assert figures.annual_return == close(annual, rel=1e-9)
    assert figures.volatility == close(volatility, rel=1e-9)
    assert figures.sharpe == close(annual / volatility, rel=1e-9)
    # three days from the first bar to the last, in years of 365.25 days
    assert figures.cagr == close(1.089 ** (365.25 / 3) - 1, rel=1e-9)
    assert figures.sortino == close(annual / (math.sqrt(0.01 / 3) * math.sqrt(252)), rel=1e-9)
    assert figures.max_drawdown == close(-0.1, rel=1e-12)
    assert figures.calmar == close(annual / 0.1, rel=1e-9)
    # trade returns from prices, less fees over the entry value: long +10 % − 1 %,
    # short −10 % − 1 %; profit factor 0.09 / 0.11
    assert figures.win_rate == 0.5
    assert figures.profit_factor == close(0.09 / 0.11, rel=1e-12)


def test_quantstats_by_hand() -> None:
    returns = effective_returns(100.0, SUB.daily_results)
    assert returns == close([0.0, 0.1, -0.1, 0.1], rel=1e-12)
    figures = conventions(SUB, returns).quantstats
    assert figures.win_rate == 2 / 3  # of the returns that moved: 0 is left out
    assert figures.profit_factor == close(0.2 / 0.1, rel=1e-12)  # periods, not trades
    assert figures.max_drawdown == close(-0.1, rel=1e-12)
    assert figures.cagr == close(1.089 ** (252 / 4) - 1, rel=1e-9)


def test_undefined_figures_are_null_never_zero_or_infinite() -> None:
    rising = quantstats([0.01, 0.02, 0.03], 252)
    assert rising.profit_factor is None  # no loss (quantstats says inf)
    assert rising.sortino is None and rising.calmar is None  # no downside, no drawdown
    assert rising.win_rate == 1.0
    flat = quantstats([0.0, 0.0], 252)
    assert flat.sharpe is None and flat.win_rate is None  # quantstats says nan and 0.0
    empty = quantstats([], 252)
    assert empty == type(empty)(None, None, None, None, None, None, None, None)
    one_day = submission_from_document({**DOC, "daily_results": DOC["daily_results"][:1],
                                        "trades": []})[0]  # fmt: skip
    figures = backtesting_py(one_day)
    assert figures.cagr is None and figures.sharpe is None and figures.volatility is None
    assert figures.win_rate is None and figures.profit_factor is None
    assert figures.total_return == 0.0  # defined: the final equity is the first
