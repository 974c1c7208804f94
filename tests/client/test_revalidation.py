"""The client keeps what it reads and revalidates it: reading again sends the ETag,
the ledger answers 304 with no body and the client gives back what it kept, equal to a
fresh read; once the backtest changes, the new answer replaces it."""

from __future__ import annotations

from backtest_ledger import Ledger
from tests.api.conftest import Api
from tests.factories import backtest_document


def test_reads_again_are_revalidated_and_equal_fresh_ones(api: Api, ledger: Ledger) -> None:
    doc = backtest_document(days=90, trades=3, seed=4)
    doc["experiment"] = "grid"
    backtest_id = ledger.record_body(doc)
    first, daily = ledger.get(backtest_id), ledger.daily(backtest_id)
    sweep = ledger.experiment("grid")
    assert ledger.kept.revalidated == 0
    assert ledger.get(backtest_id) == first
    assert ledger.daily(backtest_id).equals(daily)
    assert ledger.experiment("grid").equals(sweep)
    assert ledger.kept.revalidated == 3  # three 304s, no body sent
    fresh = Ledger(api_key=api.keys["alice"], client=api.client, kept_bytes=0)
    assert fresh.get(backtest_id) == first and fresh.kept.revalidated == 0
    ledger.record_body({**backtest_document(days=90, trades=3, seed=5), "experiment": "grid"})
    assert len(ledger.experiment("grid")) == 2  # the sweep moved: a whole new answer
    assert ledger.kept.revalidated == 3
