"""GET /api/v1/backtests/compare: two to eight backtests side by side."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.factories import backtest_document


def test_compare_returns_rebased_curves_and_monthly_columns(api: Api) -> None:
    docs = [backtest_document(days=70, seed=1), backtest_document(days=40, seed=2)]
    ids = [api.record(document=d).json()["backtest_id"] for d in docs]
    response = api.get("/api/v1/backtests/compare", ids=",".join(ids))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [b["summary"]["backtest_id"] for b in body["backtests"]] == ids
    first = body["backtests"][0]["curve"]
    assert len(first) == 70
    assert first[0][1] == 1.0  # rebased to the first equity
    e0, e9 = docs[0]["daily_results"][0]["equity"], docs[0]["daily_results"][9]["equity"]
    assert first[9][1] == pytest.approx(e9 / e0, rel=1e-12)
    months = {row["month"]: row["returns"] for row in body["months"]}
    assert set(months) == {"2024-01", "2024-02", "2024-03"}
    assert months["2024-03"][1] is None and months["2024-03"][0] is not None


@pytest.mark.parametrize("count", [1, 9])
def test_compare_needs_two_to_eight_ids(api: Api, count: int) -> None:
    ids = [api.record(document=backtest_document(seed=s)).json()["backtest_id"]
           for s in range(min(count, 2))]  # fmt: skip
    ids = (ids * 9)[:count] if count > 2 else ids[:count]
    response = api.get("/api/v1/backtests/compare", ids=",".join(ids))
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/ids"


def test_compare_with_anothers_backtest_is_404(api: Api) -> None:
    mine = api.record("alice").json()["backtest_id"]
    theirs = api.record("bob").json()["backtest_id"]
    response = api.get("/api/v1/backtests/compare", ids=f"{mine},{theirs}")
    assert response.status_code == 404
