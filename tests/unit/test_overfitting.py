"""The Probability of Backtest Overfitting against an implementation written here from
the paper (Bailey, Borwein, López de Prado & Zhu 2017, section 2): itertools over the
blocks, the rows of each set concatenated and their Sharpe taken by numpy, ranks by
scipy's ``rankdata`` — no code shared with ``domain.overfitting``."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import rankdata

from domain.overfitting import NotEnoughData, probability_of_backtest_overfitting


def by_the_paper(m: np.ndarray, s: int, periods: float) -> dict[str, float]:
    t = m.shape[0] - m.shape[0] % s
    m = m[m.shape[0] - t :]  # the oldest rows dropped
    chunks = np.split(m, s)
    logits, inside, outside = [], [], []
    for train in itertools.combinations(range(s), s // 2):
        test = [b for b in range(s) if b not in train]
        j = np.concatenate([chunks[b] for b in train])
        jbar = np.concatenate([chunks[b] for b in test])
        r = j.mean(axis=0) / j.std(axis=0, ddof=1)
        rbar = jbar.mean(axis=0) / jbar.std(axis=0, ddof=1)
        best = int(np.argmax(r))  # the first on ties
        omega = rankdata(rbar)[best] / (m.shape[1] + 1)
        logits.append(math.log(omega / (1 - omega)))
        inside.append(r[best] * math.sqrt(periods))
        outside.append(rbar[best] * math.sqrt(periods))
    slope, intercept = np.polyfit(inside, outside, 1)
    r2 = np.corrcoef(inside, outside)[0, 1] ** 2
    return {"pbo": float(np.mean(np.array(logits) <= 0)),
            "loss": float(np.mean(np.array(outside) < 0)),
            "slope": float(slope), "intercept": float(intercept), "r2": float(r2),
            "logits": np.array(logits)}  # fmt: skip


def _compare(m: np.ndarray, s: int, periods: float = 252) -> float:
    ours = probability_of_backtest_overfitting(m, s, periods, chunk=7)
    paper = by_the_paper(m, s, periods)
    assert ours.combinations == math.comb(s, s // 2)
    assert ours.pbo == paper["pbo"]
    assert ours.probability_of_loss == paper["loss"]
    assert ours.degradation.slope == pytest.approx(paper["slope"], rel=1e-9, abs=1e-12)
    assert ours.degradation.intercept == pytest.approx(paper["intercept"], rel=1e-9, abs=1e-12)
    assert ours.degradation.r_squared == pytest.approx(paper["r2"], rel=1e-9, abs=1e-12)
    counts, _ = np.histogram(paper["logits"], bins=20)
    assert ours.histogram_counts == counts.tolist()
    assert ours.rows_dropped == m.shape[0] % s
    return ours.pbo


def test_a_pure_noise_sweep_overfits_about_half_the_time() -> None:
    rng = np.random.default_rng(7)
    pbo = _compare(rng.normal(0, 0.01, (1003, 40)), 10)
    assert 0.3 < pbo < 0.7


def test_a_sweep_with_one_skilled_variant_hardly_overfits() -> None:
    rng = np.random.default_rng(8)
    m = rng.normal(0, 0.01, (1000, 30))
    m[:, 17] += 0.004  # a real edge, in every period
    assert _compare(m, 12) < 0.05


def test_a_moving_average_grid_on_the_sp500() -> None:
    import arch.data.sp500

    close = arch.data.sp500.load()["Adj Close"]
    r = close.pct_change()
    columns = []
    for fast, slow in itertools.product((5, 10, 20), (50, 100, 150, 200)):
        held = close.rolling(fast).mean() > close.rolling(slow).mean()
        columns.append((held.shift(1, fill_value=False) * r).to_numpy()[201:])
    m = np.column_stack(columns)  # from the first day every signal is known
    assert m.shape == (len(close) - 201, 12) and not np.isnan(m).any()
    pbo = _compare(m, 12)
    assert 0.0 <= pbo <= 1.0


def test_the_answer_is_the_same_bits_whatever_the_chunks() -> None:
    m = np.random.default_rng(9).normal(0, 0.01, (640, 25))
    reports = {chunk: probability_of_backtest_overfitting(m, 8, 252, chunk)
               for chunk in (1, 3, 70, 1000)}  # fmt: skip
    assert len({repr(report) for report in reports.values()}) == 1


@pytest.mark.parametrize(
    ("shape", "partitions", "reason"),
    [
        ((100, 1), 4, "at least 2"),
        ((60, 5), 16, "at least 4 × partitions = 64"),
        ((100, 5), 5, "must be even"),
        ((100, 5), 26, "2 to 24"),
    ],
)
def test_a_matrix_it_cannot_use_is_refused_naming_the_reason(
    shape: tuple[int, int], partitions: int, reason: str
) -> None:
    with pytest.raises(NotEnoughData, match=reason):
        probability_of_backtest_overfitting(np.zeros(shape), partitions)
