"""Relative figures against empyrical-reloaded itself, on a moving-average strategy
over arch's S&P 500 with its index as the benchmark, nulls in either series; the
benchmark's own figures against the ledger's metrics of the benchmark recorded as a
backtest of its own."""

from __future__ import annotations

import math

import arch.data.sp500
import empyrical
import msgspec
import numpy as np
import pandas as pd
import pytest

from domain.metrics import compute_metrics
from domain.relative import relative_metrics
from domain.results import DailyResult, RecordedSubmission

CLOSE = arch.data.sp500.load()["Adj Close"]


def strategy_and_benchmark(nulls: bool) -> tuple[pd.Series, pd.Series]:
    index_returns = CLOSE.pct_change()
    held = (CLOSE.rolling(50).mean() < CLOSE).shift(1).astype(bool)
    strategy = index_returns.where(held, 0.0) - 0.0002 * held.astype(float).diff().abs()
    strategy.iloc[:50] = np.nan  # the warm-up: no signal yet
    benchmark = index_returns.copy()
    if nulls:  # the benchmark missing on some days the strategy has, and the reverse
        benchmark.iloc[300:340] = np.nan
        strategy.iloc[1000:1010] = np.nan
    return strategy, benchmark


def close(value: float | None, expected: float) -> None:
    assert value is not None and math.isfinite(expected)
    assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("nulls", [False, True])
@pytest.mark.parametrize("periods", [252, 365])
def test_the_figures_equal_empyrical(nulls: bool, periods: int) -> None:
    r, b = strategy_and_benchmark(nulls)
    got = relative_metrics(r.to_numpy(), b.to_numpy(), periods)
    pairs = r.notna() & b.notna()
    assert got.pairs == int(pairs.sum()) > 4000
    alpha, beta = empyrical.alpha_beta(r, b, annualization=periods)
    close(got.beta, beta)
    close(got.alpha, alpha)
    close(got.information_ratio, empyrical.excess_sharpe(r, b) * math.sqrt(periods))
    close(got.tracking_error, (r - b).std(ddof=1) * math.sqrt(periods))
    close(got.correlation, r.corr(b))
    rp, bp = r[pairs], b[pairs]
    if periods == 252:  # empyrical's capture annualises daily returns by 252 only
        close(got.up_capture, empyrical.up_capture(rp, bp))
        close(got.down_capture, empyrical.down_capture(rp, bp))
    up, down = bp > 0, bp < 0
    close(got.up_capture, empyrical.annual_return(rp[up], annualization=periods)
          / empyrical.annual_return(bp[up], annualization=periods))  # fmt: skip
    close(got.down_capture, empyrical.annual_return(rp[down], annualization=periods)
          / empyrical.annual_return(bp[down], annualization=periods))  # fmt: skip


def test_the_benchmarks_own_figures_are_the_ledgers_metrics_of_it() -> None:
    r, b = strategy_and_benchmark(nulls=True)
    got = relative_metrics(r.to_numpy(), b.to_numpy(), 252)
    pairs = (r.notna() & b.notna()).to_numpy()
    wealth = np.cumprod(1.0 + b.to_numpy()[pairs])
    dates = b.index[pairs].date
    days = [DailyResult(date=d, equity=float(w)) for d, w in zip(dates, wealth, strict=True)]
    as_backtest = msgspec.structs.replace(
        RecordedSubmission("SPX", "1d", "buy-and-hold", "backtest", "equity", 1.0, days),
        periods_per_year=252,
    )
    own = compute_metrics(as_backtest)
    close(got.benchmark_total_return, own.total_return)  # type: ignore[arg-type]
    close(got.benchmark_cagr, own.cagr)  # type: ignore[arg-type]
    close(got.benchmark_sharpe, own.sharpe)  # type: ignore[arg-type]
    close(got.benchmark_max_drawdown, own.max_drawdown)  # type: ignore[arg-type]
    # and against empyrical on the same returns
    close(got.benchmark_sharpe, empyrical.sharpe_ratio(b[pairs], annualization=252))
    close(got.benchmark_max_drawdown, empyrical.max_drawdown(b[pairs]))


def test_without_two_pairs_or_with_a_constant_benchmark_the_figures_are_null() -> None:
    r = np.array([0.01, -0.02, 0.03, np.nan])
    nothing = relative_metrics(r, np.full(4, np.nan), 252)
    assert nothing.pairs == 0 and nothing.beta is None and nothing.benchmark_cagr is None
    one = relative_metrics(r, np.array([0.01, np.nan, np.nan, 0.02]), 252)
    assert one.pairs == 1 and one.information_ratio is None
    flat = relative_metrics(r, np.array([0.001, 0.001, 0.001, 0.001]), 252)
    assert flat.pairs == 3
    assert flat.beta is None and flat.alpha is None and flat.correlation is None
    # what does not need the benchmark to vary is still given: r − b varies
    assert flat.tracking_error is not None and flat.benchmark_total_return is not None
    assert flat.down_capture is None  # no down day of the benchmark
