"""Is it luck? Closed-form significance statistics of a return series.

Conventions (so an auditor can recompute every figure): SR is the per-period Sharpe
estimate mean(r)/std(r, ddof=1); γ₃ the sample skewness and γ₄ the non-excess
kurtosis, both with population moments (as ``scipy.stats.skew(r)`` and
``scipy.stats.kurtosis(r, fisher=False)``); n the number of returns.

- Probabilistic Sharpe Ratio (Bailey & López de Prado, 2012, "The Sharpe Ratio
  Efficient Frontier"): PSR(SR*) = Φ((SR − SR*)·√(n−1) / √(1 − γ₃·SR + (γ₄−1)/4·SR²)).
- Deflated Sharpe Ratio (Bailey & López de Prado, 2014, "The Deflated Sharpe Ratio"):
  SR₀ = √V·((1−γ)·Φ⁻¹(1−1/N) + γ·Φ⁻¹(1−1/(N·e))), V the variance (ddof=1) of the
  per-period SR of the N trials, γ the Euler–Mascheroni constant; DSR = PSR(SR₀).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Moments:
    n: int
    sharpe: float  # per period
    skewness: float
    kurtosis: float  # non-excess


def moments(returns: np.ndarray) -> Moments | None:
    """SR, γ₃ and γ₄ of a series; None when fewer than 3 returns or no variation."""
    n = len(returns)
    if n < 3:
        return None
    std = float(np.std(returns, ddof=1))
    centred = returns - returns.mean()
    m2 = float(np.mean(centred**2))
    if std == 0 or m2 == 0:
        return None
    skewness = float(np.mean(centred**3)) / m2**1.5
    kurtosis = float(np.mean(centred**4)) / m2**2
    return Moments(n, float(returns.mean()) / std, skewness, kurtosis)


def probabilistic_sharpe_ratio(m: Moments, benchmark: float = 0.0) -> float | None:
    """PSR(SR*): the probability that the true per-period Sharpe exceeds ``benchmark``."""
    variance = 1 - m.skewness * m.sharpe + (m.kurtosis - 1) / 4 * m.sharpe**2
    if variance <= 0:
        return None
    z = (m.sharpe - benchmark) * math.sqrt(m.n - 1) / math.sqrt(variance)
    return _NORMAL.cdf(z)


def expected_max_sharpe(trial_sharpes: Sequence[float], trials: int | None = None) -> float | None:
    """SR₀: the Sharpe the best of N unskilled trials would show, from their variance.

    N is ``trials`` when given: a trial whose Sharpe is undefined (no variation) was
    still tried, so it counts in N though it cannot enter the variance."""
    n = len(trial_sharpes) if trials is None else trials
    if n < 2 or len(trial_sharpes) < 2:
        return None
    variance = float(np.var(np.asarray(trial_sharpes, dtype=np.float64), ddof=1))
    return math.sqrt(variance) * (
        (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n)
        + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n * math.e))
    )


def deflated_sharpe_ratio(
    m: Moments, trial_sharpes: Sequence[float], trials: int | None = None
) -> float | None:
    """DSR = PSR(SR₀); None with fewer than two trials."""
    sr0 = expected_max_sharpe(trial_sharpes, trials)
    return None if sr0 is None else probabilistic_sharpe_ratio(m, sr0)


@dataclass(frozen=True)
class WalkForward:
    windows: int
    positive_share: float | None
    mean_oos_sharpe: float | None


def walk_forward(
    returns: np.ndarray, periods_per_year: int, in_sample: int, out_of_sample: int, step: int
) -> WalkForward:
    """Rolling windows of ``in_sample`` then ``out_of_sample`` returns, moved by
    ``step``: the share of out-of-sample windows with a positive compounded return,
    and their mean annualised Sharpe (windows with no variation are left out of it)."""
    positives, sharpes, windows = 0, [], 0
    start = 0
    while start + in_sample + out_of_sample <= len(returns):
        oos = returns[start + in_sample : start + in_sample + out_of_sample]
        windows += 1
        positives += float(np.prod(1 + oos)) > 1
        std = float(np.std(oos, ddof=1)) if len(oos) > 1 else 0.0
        if std > 0:
            sharpes.append(float(oos.mean()) / std * math.sqrt(periods_per_year))
        start += step
    return WalkForward(
        windows=windows,
        positive_share=positives / windows if windows else None,
        mean_oos_sharpe=float(np.mean(sharpes)) if sharpes else None,
    )
