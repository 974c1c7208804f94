"""Our metrics agree with empyrical (an independent implementation) to 1e-9 relative,
on twenty years of real S&P 500 daily returns shipped in ``arch.data.sp500``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import empyrical
    from arch.data import sp500

from domain.metrics import compute_metrics
from domain.submission import submission_from_document

RTOL = 1e-9


def sp500_returns() -> tuple[list[str], np.ndarray]:
    prices = sp500.load()["Adj Close"]
    returns = prices.pct_change().dropna()
    return [d.date().isoformat() for d in returns.index], returns.to_numpy()


@pytest.mark.parametrize("periods", [252, 365])
@pytest.mark.parametrize("given_returns", [True, False], ids=["given", "from-equity"])
def test_metrics_match_empyrical_on_sp500(periods: int, given_returns: bool) -> None:
    dates, r = sp500_returns()
    capital = 1_000_000.0
    equity = capital * np.cumprod(1 + r)
    daily = [
        {"date": d, "equity": float(e), **({"return": float(x)} if given_returns else {})}
        for d, e, x in zip(dates, equity, r, strict=True)
    ]
    doc = {"symbol": "^GSPC", "interval": "1d", "strategy": "buy_and_hold",
           "test_mode": "backtest", "market_type": "spot", "initial_capital": capital,
           "periods_per_year": periods, "daily_results": daily}  # fmt: skip
    ours = compute_metrics(submission_from_document(doc)[0])
    # from equity, our returns are recomputed from the rounded equity: compare with those
    ref = (
        r
        if given_returns
        else np.diff(np.concatenate([[capital], equity])) / np.concatenate([[capital], equity[:-1]])
    )
    kw = {"annualization": periods}
    assert len(r) > 5000
    assert ours.sharpe == pytest.approx(empyrical.sharpe_ratio(ref, **kw), rel=RTOL)
    assert ours.sortino == pytest.approx(empyrical.sortino_ratio(ref, **kw), rel=RTOL)
    assert ours.volatility == pytest.approx(empyrical.annual_volatility(ref, **kw), rel=RTOL)
    assert ours.cagr == pytest.approx(empyrical.annual_return(ref, **kw), rel=RTOL)
    assert ours.max_drawdown == pytest.approx(empyrical.max_drawdown(ref), rel=RTOL)
    assert ours.calmar == pytest.approx(empyrical.calmar_ratio(ref, **kw), rel=RTOL)
    assert ours.total_return == pytest.approx(empyrical.cum_returns_final(ref), rel=RTOL)
