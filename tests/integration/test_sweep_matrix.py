"""A sweep as one matrix of returns, on both stores: the columns are the live trials in
recorded order, the rows the intersection of their dates with nulls dropped, each
value the return the metrics use; the expected matrix is built here with pandas from
the submitted bodies."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from api.handlers import delete_backtest, exclude_from_trials
from domain.overfitting import probability_of_backtest_overfitting
from projections.sweep_matrix import sweep_matrix
from tests.factories import backtest_document, make_user, record


def _variant(seed: int, start: dt.date, days: int) -> dict[str, Any]:
    doc = backtest_document(days=days, trades=0, seed=seed, start=start)
    doc.update(experiment="grid", parameters={"seed": seed})
    return doc


def _returns(doc: dict[str, Any]) -> pd.Series:
    """What the metrics use: equity_t / equity_{t-1} - 1 from the initial capital."""
    rows = doc["daily_results"]
    equity = pd.Series([row["equity"] for row in rows],
                       index=[dt.date.fromisoformat(row["date"]) for row in rows])  # fmt: skip
    before = pd.concat([pd.Series([doc["initial_capital"]]), equity.iloc[:-1]]).to_numpy()
    return equity / before - 1


def test_the_matrix_holds_the_live_trials_on_their_common_dates(engine: sa.Engine) -> None:
    alice, bob = make_user(engine), make_user(engine, "bob")
    start = dt.date(2024, 1, 1)
    docs = [_variant(1, start, 120), _variant(2, start + dt.timedelta(days=10), 120),
            _variant(3, start, 125)]  # fmt: skip
    docs[2]["daily_results"][50]["equity"] = None  # its returns at 50 and 51 unknown
    ids = [record(engine, alice, doc).backtest_id for doc in docs]
    excluded = record(engine, alice, _variant(4, start, 120)).backtest_id
    deleted = record(engine, alice, _variant(5, start, 120)).backtest_id
    short = record(engine, alice, _variant(6, start, 20)).backtest_id
    record(engine, bob, _variant(7, start, 120))  # another owner's "grid"
    exclude_from_trials(engine, alice, excluded, "a test run")
    delete_backtest(engine, alice, deleted)

    with engine.connect() as conn:
        matrix = sweep_matrix(conn, "grid", alice.user_id, min_rows=64)
    assert matrix.backtest_ids == ids  # recorded order; excluded, deleted, bob's: out
    assert [(x.backtest_id, x.reason) for x in matrix.left_out] == [
        (short, "20 known returns, fewer than 64")]  # fmt: skip
    expected = pd.concat([_returns(doc) for doc in docs], axis=1, join="inner").dropna()
    assert matrix.keys == list(expected.index)
    assert matrix.keys[0] == start + dt.timedelta(days=10) and len(matrix.keys) == 108
    assert matrix.rows_dropped == 2
    np.testing.assert_allclose(matrix.returns, expected.to_numpy(), rtol=1e-15, atol=0)
    assert matrix.periods_per_year == 365
    report = probability_of_backtest_overfitting(matrix.returns, 4, matrix.periods_per_year)
    assert report.rows_used + report.rows_dropped == 108 and 0 <= report.pbo <= 1

    with engine.connect() as conn:  # auditors see every owner's: bob's joins
        everyone = sweep_matrix(conn, "grid", None, min_rows=64)
    assert len(everyone.backtest_ids) == 4
