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

from domain.conventions import conventions
from domain.metrics import compute_metrics
from domain.series import derive
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


def test_with_equity_unknown_from_a_row_on_every_metric_covers_the_rows_before_it() -> None:
    """Returns given for every row, equity null from row 300 on (what a client sends
    when its compounding overflows): each figure is empyrical's over rows 0–299, and the
    quantstats convention's CAGR agrees with the ledger's (it was -0.019 against 0.026
    when Sharpe took all the returns and total return stopped at row 299)."""
    dates, r = sp500_returns()
    dates, r = dates[:1005], r[:1005]
    capital, cut = 1_000_000.0, 300
    equity = capital * np.cumprod(1 + r)
    daily = [{"date": d, "equity": float(e) if i < cut else None, "return": float(x)}
             for i, (d, e, x) in enumerate(zip(dates, equity, r, strict=True))]  # fmt: skip
    doc = {"symbol": "^GSPC", "interval": "1d", "strategy": "buy_and_hold",
           "test_mode": "backtest", "market_type": "spot", "initial_capital": capital,
           "periods_per_year": 252, "daily_results": daily}  # fmt: skip
    submission = submission_from_document(doc)[0]
    ours = compute_metrics(submission)
    ref, kw = r[:cut], {"annualization": 252}
    assert ours.sharpe == pytest.approx(empyrical.sharpe_ratio(ref, **kw), rel=RTOL)
    assert ours.volatility == pytest.approx(empyrical.annual_volatility(ref, **kw), rel=RTOL)
    assert ours.sortino == pytest.approx(empyrical.sortino_ratio(ref, **kw), rel=RTOL)
    assert ours.cagr == pytest.approx(empyrical.annual_return(ref, **kw), rel=RTOL)
    assert ours.total_return == pytest.approx(empyrical.cum_returns_final(ref), rel=RTOL)
    assert ours.max_drawdown == pytest.approx(empyrical.max_drawdown(ref), rel=RTOL)
    derived = derive(submission)
    quantstats_cagr = conventions(submission, derived.metric_returns()).quantstats.cagr
    assert quantstats_cagr == pytest.approx(ours.cagr, rel=1e-9)
