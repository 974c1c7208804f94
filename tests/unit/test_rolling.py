"""The rolling Sharpe and beta of the report against pandas' own rolling windows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from domain.rolling import rolling_beta, rolling_sharpe, window_of


def test_the_window_is_half_a_year_of_bars() -> None:
    assert window_of(252) == 126 and window_of(8760) == 4380 and window_of(1) == 2


def test_they_equal_pandas_rolling_windows_with_nulls() -> None:
    rng = np.random.default_rng(3)
    b = pd.Series(rng.normal(0.0004, 0.01, 1000))
    r = 0.8 * b + pd.Series(rng.normal(0.0, 0.005, 1000))
    r.iloc[100:110] = np.nan
    b.iloc[500:505] = np.nan
    window = 126
    want_sharpe = (
        r.rolling(window, min_periods=63).mean() / r.rolling(window, min_periods=63).std()
    ) * math.sqrt(252)
    got_sharpe = rolling_sharpe(r.to_numpy(), 252, window)
    paired = r.notna() & b.notna()
    rp, bp = r.where(paired), b.where(paired)
    want_beta = rp.rolling(window, min_periods=63).cov(bp, ddof=0) / bp.rolling(
        window, min_periods=63
    ).var(ddof=0)
    got_beta = rolling_beta(r.to_numpy(), b.to_numpy(), window)
    for got, want in ((got_sharpe, want_sharpe), (got_beta, want_beta)):
        assert [g is None for g in got] == want.isna().tolist()
        known = want.notna().to_numpy()
        np.testing.assert_allclose(
            np.array([g for g in got if g is not None]), want[known].to_numpy(), rtol=1e-7
        )
    assert got_beta[-1] == pytest.approx(0.8, abs=0.15)


def test_a_constant_window_has_no_figure() -> None:
    flat = np.full(300, 0.001)
    assert set(rolling_sharpe(flat, 252, 126)) == {None}
    assert set(rolling_beta(np.linspace(0, 0.01, 300), flat, 126)) == {None}
