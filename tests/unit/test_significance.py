"""PSR, DSR and walk-forward against published and hand-computed figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from domain.significance import (
    Moments,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    moments,
    probabilistic_sharpe_ratio,
    walk_forward,
)


def test_the_deflated_sharpe_ratio_papers_numerical_example() -> None:
    """Bailey & López de Prado (2014), section 6: N = 100 trials whose annualised
    Sharpe ratios have variance 1/2, T = 1250 daily returns, an annualised SR of 2.5,
    skewness −3, kurtosis 10: SR0 ≈ 0.1132 (per day) and DSR ≈ 0.9004."""
    per_day_variance = 0.5 / 250
    # N values with exactly that sample variance stand for the trials
    trials = np.linspace(-1, 1, 100)
    trials = trials / np.std(trials, ddof=1) * math.sqrt(per_day_variance)
    sr0 = expected_max_sharpe(list(trials))
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    observed = Moments(n=1250, sharpe=2.5 / math.sqrt(250), skewness=-3.0, kurtosis=10.0)
    assert deflated_sharpe_ratio(observed, list(trials)) == pytest.approx(0.9004, abs=5e-4)


def test_psr_by_hand_on_a_small_series() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.005, -0.01, 0.02, 0.015, -0.005])
    sr = r.mean() / r.std(ddof=1)
    g3 = stats.skew(r)
    g4 = stats.kurtosis(r, fisher=False)
    z = sr * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    expected = stats.norm.cdf(z)
    m = moments(r)
    assert m is not None
    assert (m.sharpe, m.skewness, m.kurtosis) == pytest.approx((sr, g3, g4), rel=1e-12)
    assert probabilistic_sharpe_ratio(m) == pytest.approx(expected, rel=1e-12)
    assert probabilistic_sharpe_ratio(m, benchmark=sr) == pytest.approx(0.5, abs=1e-12)


def test_dsr_needs_two_trials_and_falls_as_more_are_tried() -> None:
    m = Moments(n=1000, sharpe=0.08, skewness=0.0, kurtosis=3.0)
    assert deflated_sharpe_ratio(m, [0.08]) is None
    rng = np.random.default_rng(3)
    few = deflated_sharpe_ratio(m, list(rng.normal(0, 0.03, 5)))
    many = deflated_sharpe_ratio(m, list(rng.normal(0, 0.03, 500)))
    assert few is not None and many is not None and many < few


def test_walk_forward_windows_by_hand() -> None:
    # 12 returns, 4 in, 2 out, step 2: out-of-sample windows [4:6], [6:8], [8:10], [10:12]
    r = np.array([0.0] * 4 + [0.01, 0.02, -0.01, -0.03, 0.02, -0.01, 0.01, 0.01])
    wf = walk_forward(r, periods_per_year=4, in_sample=4, out_of_sample=2, step=2)
    assert wf.windows == 4
    # compounded: +3.02 %, −3.97 %, +0.98 %, +2.01 % → three of four positive
    assert wf.positive_share == 0.75
    sharpes = [w.mean() / w.std(ddof=1) * 2 for w in (r[4:6], r[6:8], r[8:10])]
    assert wf.mean_oos_sharpe == pytest.approx(np.mean(sharpes), rel=1e-12)  # [10:12] has no spread


def test_too_short_or_flat_series_have_no_moments() -> None:
    assert moments(np.array([0.01, 0.02])) is None
    assert moments(np.zeros(10)) is None


def test_a_trial_without_a_sharpe_still_counts_in_n() -> None:
    """Φ⁻¹(1 − 1/N) grows with N: counting a flat (Sharpe-less) trial raises SR₀."""
    sharpes = [0.01, 0.03, 0.05]
    three = expected_max_sharpe(sharpes)
    four = expected_max_sharpe(sharpes, trials=4)
    assert three is not None and four is not None and four > three
    assert four == pytest.approx(
        0.02 * ((1 - 0.5772156649015329) * stats.norm.ppf(1 - 1 / 4)
                + 0.5772156649015329 * stats.norm.ppf(1 - 1 / (4 * math.e))),
        rel=1e-12,
    )  # fmt: skip
    assert expected_max_sharpe([0.01], trials=5) is None  # no variance from one Sharpe
