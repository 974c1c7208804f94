"""The significance report over HTTP."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import sqlalchemy as sa

from infrastructure.database import write_transaction
from infrastructure.tables import significance_reports
from tests.api.conftest import Api
from tests.api.test_pages_http import sign_in
from tests.factories import backtest_document


def test_the_report_is_reproducible_documented_and_private(api: Api) -> None:
    ids = [api.record(document=backtest_document(days=400, seed=s)).json()["backtest_id"]
           for s in range(3)]  # fmt: skip
    url = f"/api/v1/backtests/{ids[0]}/significance"
    first = api.get(url, seed=5, samples=300)
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["seed"] == 5 and report["samples"] == 300 and report["level"] == 0.95
    assert report["dsr"]["trials"] == 3
    assert set(report["mean_return"]) == {"estimate", "ci_low", "ci_high", "p_value"}
    # a year in and a quarter out (365 + 91 returns) do not fit in 400 returns
    assert report["walk_forward"] == {"windows": 0, "positive_share": None, "mean_oos_sharpe": None}
    assert api.get(url, seed=5, samples=300).content == first.content
    assert api.get(url, who="bob").status_code == 404
    assert api.get(url, who="carol", seed=5, samples=300).content == first.content
    for bad in ({"samples": 5}, {"level": 1.5}, {"seed": -1}, {"block_length": 0}):
        response = api.get(url, **bad)
        assert response.status_code == 400, bad
    schemas = api.client.get("/schema/openapi.json").json()["components"]["schemas"]
    described = schemas["SignificanceReport"]["properties"]
    assert "Bailey" in described["psr"]["description"]
    assert "deleted" in str(schemas["Deflated"])


def test_a_bootstrap_past_the_cap_is_a_400_whose_advice_can_be_followed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap is on days x samples, and any backtest may ask for the minimum of 100
    samples: the advice once said "at most 81" of a backtest that 100 reaches, and the
    minimum is 100."""
    from projections import significance
    from tests.api.test_pages_http import HTML, sign_in

    # a small cap so that small backtests reach it: 61 days x 100 samples = 6,100 draws
    monkeypatch.setattr(significance, "MAX_DRAWS", 5_000)
    small = api.record(document=backtest_document(days=30)).json()["backtest_id"]
    long = api.record(document=backtest_document(days=61)).json()["backtest_id"]
    refused = api.get(f"/api/v1/backtests/{small}/significance", samples=200)
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert "5,000 bootstrap draws" in detail and "at most 166 samples" in detail  # 5,000 // 30
    assert api.get(f"/api/v1/backtests/{small}/significance", samples=166).status_code == 200
    refused = api.get(f"/api/v1/backtests/{long}/significance", samples=101)
    assert refused.status_code == 400 and "at most 100 samples" in refused.json()["detail"]
    followed = api.get(f"/api/v1/backtests/{long}/significance", samples=100)
    assert followed.status_code == 200 and followed.json()["samples"] == 100
    sign_in(api, "alice")
    page = api.client.get(f"/backtests/{long}", headers=HTML)
    assert page.status_code == 200 and "100 resamples" in page.text


def test_without_samples_a_long_backtest_gets_as_many_as_fit(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newcomer's first report of twenty years of days asked for the default 10,000
    samples and got a 400: the default now takes as many as fit, and says how many."""
    from projections import significance

    monkeypatch.setattr(significance, "MAX_DRAWS", 20_000)
    long = api.record(document=backtest_document(days=61)).json()["backtest_id"]
    url = f"/api/v1/backtests/{long}/significance"
    fitted = api.get(url)
    # the cap is on stored days x samples: 20,000 // 61
    assert fitted.status_code == 200 and fitted.json()["samples"] == 327
    assert api.get(url).content == fitted.content  # stored once, read back
    assert api.get(url, samples=fitted.json()["samples"] + 1).status_code == 400
    short = api.record(document=backtest_document(days=30)).json()["backtest_id"]
    monkeypatch.setattr(significance, "MAX_DRAWS", 50_000_000)
    assert api.get(f"/api/v1/backtests/{short}/significance").json()["samples"] == 10_000


def test_a_refusal_reads_the_last_part_of_the_series_alone(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from projections import series_parts, series_reads, significance

    monkeypatch.setattr(series_parts, "PART_ROWS", 10)  # 61 days: seven parts
    backtest_id = api.record(document=backtest_document(days=61)).json()["backtest_id"]
    monkeypatch.setattr(significance, "MAX_DRAWS", 5_000)
    decoded: list[str] = []
    decode = series_reads.decode_part

    def counted(kind: Any, body: bytes) -> Any:
        decoded.append(kind)
        return decode(kind, body)

    monkeypatch.setattr(series_reads, "decode_part", counted)
    refused = api.get(f"/api/v1/backtests/{backtest_id}/significance", samples=1000)
    assert refused.status_code == 400 and "61 days" in refused.json()["detail"]
    assert decoded.count("daily") == 1


def _stored_reports(api: Api, backtest_id: str) -> list[bytes]:
    with api.engine.connect() as conn:
        rows = conn.execute(
            sa.select(significance_reports.c.report).where(
                significance_reports.c.backtest_id == backtest_id
            )
        ).scalars()
        return [bytes(r) for r in rows]


def test_a_report_is_computed_once_per_inputs_then_read_back(api: Api) -> None:
    backtest_id = api.record(document=backtest_document(days=300, seed=1)).json()["backtest_id"]
    url = f"/api/v1/backtests/{backtest_id}/significance"
    first = api.get(url, seed=3, samples=200)
    assert first.status_code == 200, first.text
    assert _stored_reports(api, backtest_id) == [first.content]
    # Mark the stored report: if the next answer carries the mark, it was read back,
    # not computed again.
    marked = first.json() | {"observations": 123456}
    with write_transaction(api.engine) as conn:
        conn.execute(significance_reports.update().values(report=json.dumps(marked).encode()))
    assert api.get(url, seed=3, samples=200).json()["observations"] == 123456
    assert api.get(url, who="carol", seed=3, samples=200).json()["observations"] == 123456
    # other inputs are another report: another seed, another sample count...
    other = api.get(url, seed=4, samples=200).json()
    assert other["observations"] == first.json()["observations"] != 123456
    assert len(_stored_reports(api, backtest_id)) == 2
    # ... or a trial more: the DSR depends on every variant tried
    api.record(document=backtest_document(days=300, seed=2))
    again = api.get(url, seed=3, samples=200).json()
    assert again["observations"] != 123456 and again["dsr"]["trials"] == 2
    assert {k: v for k, v in again.items() if k != "dsr"} == {
        k: v for k, v in first.json().items() if k != "dsr"
    }


def test_a_report_past_the_time_budget_is_a_503_and_stores_nothing(api: Api) -> None:
    from tests.api.test_pages_http import HTML, sign_in

    backtest_id = api.record(document=backtest_document(days=300)).json()["backtest_id"]
    state = api.client.app.state
    state.settings = dataclasses.replace(state.settings, significance_seconds=0)
    refused = api.get(f"/api/v1/backtests/{backtest_id}/significance", samples=200)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["retry-after"] == "30"
    assert "0 s budget" in refused.json()["detail"]
    assert _stored_reports(api, backtest_id) == []
    sign_in(api, "alice")
    page = api.client.get(f"/backtests/{backtest_id}", headers=HTML)
    assert page.status_code == 200 and 'id="sig-unavailable"' in page.text
    assert "Max drawdown" in page.text  # the rest of the report is there
    assert _stored_reports(api, backtest_id) == []


@pytest.mark.parametrize("days", [4, 8])
def test_three_to_seven_returns_give_a_report_with_null_bootstrap_figures_and_a_note(
    api: Api, days: int
) -> None:
    # ``days`` equities give ``days`` returns (the first from the initial capital);
    # arch's optimal_block_length raises below 8, and the report was a 500
    backtest_id = api.record(document=backtest_document(days=days, seed=3)).json()["backtest_id"]
    url = f"/api/v1/backtests/{backtest_id}/significance"
    report = api.get(url, samples=100).json()
    assert report["observations"] == days
    if days < 8:
        assert report["block_length"] is None and report["mean_return"]["ci_low"] is None
        assert report["notes"] == [
            f"choosing the block length needs at least 8 returns ({days} here): "
            "give block_length to bootstrap fewer"
        ]
        given = api.get(url, samples=100, block_length=2).json()
        assert given["block_length"] == 2 and given["mean_return"]["ci_low"] is not None
        assert given["notes"] == []
    else:
        assert report["block_length"] >= 1 and report["notes"] == []
    sign_in(api, "alice")
    page = api.client.get(f"/backtests/{backtest_id}", headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text  # the report page draws its panel
