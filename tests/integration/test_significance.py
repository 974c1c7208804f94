"""The significance report over the read models: reproducible bootstrap, honest
trial counts, and interval coverage close to the nominal level."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from api.handlers import delete_backtest
from projections.significance import SignificanceParams, bootstrap, significance
from tests.factories import backtest_document, make_user, record

QUICK = SignificanceParams(seed=7, samples=500)


def test_the_same_seed_gives_the_same_numbers_bit_for_bit(engine: sa.Engine) -> None:
    alice = make_user(engine)
    backtest_id = record(engine, alice, backtest_document(days=300, seed=4)).backtest_id
    with engine.connect() as conn:
        first = significance(conn, backtest_id, alice.user_id, QUICK)
        again = significance(conn, backtest_id, alice.user_id, QUICK)
        other = significance(conn, backtest_id, alice.user_id, SignificanceParams(8, 500))
    assert msgspec.json.encode(first) == msgspec.json.encode(again)
    assert first.mean_return.ci_low != other.mean_return.ci_low
    assert first.observations == 300 and first.periods_per_year == 365
    assert first.mean_return.ci_low < first.mean_return.estimate < first.mean_return.ci_high
    assert first.sharpe.ci_low < first.sharpe.estimate < first.sharpe.ci_high
    returns = np.array([d["equity"] for d in backtest_document(days=300, seed=4)["daily_results"]])
    derived = np.diff(np.concatenate([[10_000.0], returns])) / np.concatenate(
        [[10_000.0], returns[:-1]]
    )
    assert first.mean_return.estimate == pytest.approx(derived.mean(), rel=1e-12)
    assert first.sharpe.estimate == pytest.approx(
        derived.mean() / derived.std(ddof=1) * math.sqrt(365), rel=1e-12
    )


def test_every_variant_tried_counts_deleted_ones_included(engine: sa.Engine) -> None:
    alice, bob = make_user(engine, "alice"), make_user(engine, "bob")
    mine = [record(engine, alice, backtest_document(days=120, seed=s)) for s in range(4)]
    record(engine, alice, backtest_document(days=120, seed=9, strategy="other"))
    record(engine, alice, backtest_document(days=120, seed=10, symbol="ETHUSDT"))
    record(engine, bob, backtest_document(days=120, seed=11))
    delete_backtest(engine, alice, mine[0].backtest_id)
    with engine.connect() as conn:
        report = significance(conn, mine[1].backtest_id, alice.user_id, QUICK)
        alone = significance(conn, mine[1].backtest_id, None, QUICK)
    assert report.dsr.trials == 4
    assert report.dsr.value is not None and 0 <= report.dsr.value <= 1
    assert report.dsr.sr0 is not None and report.dsr.sr0 > 0
    assert alone.dsr == report.dsr  # an auditor's view counts the owner's trials too


def test_a_single_trial_has_no_dsr(engine: sa.Engine) -> None:
    alice = make_user(engine)
    backtest_id = record(engine, alice, backtest_document(days=100)).backtest_id
    with engine.connect() as conn:
        report = significance(conn, backtest_id, alice.user_id, QUICK)
    assert report.dsr.trials == 1 and report.dsr.value is None and report.dsr.sr0 is None
    assert report.psr is not None


@pytest.mark.slow
def test_bootstrap_intervals_cover_the_true_mean_near_the_nominal_rate() -> None:
    """i.i.d. normal returns with a known mean: the 90 % interval should contain it
    in about 90 % of 200 independent samples (binomial sd ≈ 2.1 %)."""
    true_mean, covered, runs = 0.0004, 0, 200
    for seed in range(runs):
        sample = np.random.default_rng(10_000 + seed).normal(true_mean, 0.01, 250)
        _, mean, _ = bootstrap(sample, 252, SignificanceParams(seed=seed, samples=400, level=0.9))
        assert mean.ci_low is not None and mean.ci_high is not None
        covered += mean.ci_low <= true_mean <= mean.ci_high
    assert 0.84 <= covered / runs <= 0.96


def test_the_p_value_is_small_for_a_clear_edge_and_large_for_none() -> None:
    rng = np.random.default_rng(1)
    edge = rng.normal(0.002, 0.01, 1000)
    flat = rng.normal(-0.0005, 0.01, 1000)
    params = SignificanceParams(seed=1, samples=2000)
    assert bootstrap(edge, 252, params)[1].p_value < 0.01  # type: ignore[operator]
    assert bootstrap(flat, 252, params)[1].p_value > 0.5  # type: ignore[operator]


def test_the_resamples_are_arch_s_own_and_a_rebuild_forgets_stored_reports(
    engine: sa.Engine,
) -> None:
    from arch.bootstrap import StationaryBootstrap

    from projections.rebuild import rebuild
    from projections.significance import report_for

    alice = make_user(engine)
    doc = backtest_document(days=300, seed=4)
    backtest_id = record(engine, alice, doc).backtest_id
    params = SignificanceParams(seed=7, samples=500, block_length=4.0)
    report = report_for(engine, backtest_id, alice.user_id, params)
    # the returns, by pandas, from the equity sent and the initial capital before it
    equity = pd.Series([doc["initial_capital"]] + [d["equity"] for d in doc["daily_results"]])
    returns = equity.pct_change().to_numpy()[1:]
    # arch's own apply over the same seed: the interval of the mean, by hand
    means = StationaryBootstrap(4.0, returns, seed=7).apply(lambda x: np.array([x.mean()]), 500)
    low, high = np.nanpercentile(means[:, 0], [2.5, 97.5])
    assert report.mean_return.ci_low == pytest.approx(low, abs=1e-15)
    assert report.mean_return.ci_high == pytest.approx(high, abs=1e-15)
    count = sa.text("SELECT count(*) FROM significance_reports")
    with engine.connect() as conn:
        assert conn.execute(count).scalar_one() == 1
    rebuild(engine)
    with engine.connect() as conn:
        assert conn.execute(count).scalar_one() == 0
    assert report_for(engine, backtest_id, alice.user_id, params) == report
