"""One rule for a backtest id on every route: any spelling of its UUID (upper case,
braces, no hyphens) names it, on reads, writes and pages alike; anything else is 404."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import Api
from tests.api.test_pages_http import sign_in
from tests.factories import backtest_document

SPELLINGS = {
    "upper-case": str.upper,
    "braces": lambda i: "{" + i + "}",
    "no-hyphens": lambda i: uuid.UUID(i).hex.upper(),
}
READS = ["", "/daily.csv", "/monthly.csv", "/trades.csv", "/history", "/significance?samples=100"]


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_every_route_reads_and_writes_a_backtest_by_any_spelling_of_its_id(
    api: Api, spelling: str
) -> None:
    spell = SPELLINGS[spelling]
    ids = [api.record(document=backtest_document(days=30, seed=s)).json()["backtest_id"]
           for s in range(3)]  # fmt: skip
    first, second, third = ids
    for read in READS:
        path, _, query = read.partition("?")
        same = api.client.get(f"/api/v1/backtests/{first}{path}?{query}", headers=api.auth("alice"))
        spelt = api.client.get(
            f"/api/v1/backtests/{spell(first)}{path}?{query}", headers=api.auth("alice")
        )
        assert spelt.status_code == same.status_code == 200, (read, spelt.text[:200])
        if path != "/history":  # its request ids differ by nothing but the spelling
            assert spelt.content == same.content, read
    compared = api.get("/api/v1/backtests/compare", ids=f"{spell(first)},{second}")
    assert compared.status_code == 200
    assert [b["summary"]["backtest_id"] for b in compared.json()["backtests"]] == [first, second]
    twice = api.get("/api/v1/backtests/compare", ids=f"{spell(first)},{first}")
    assert twice.status_code == 422  # one backtest, named twice

    sign_in(api, "alice")
    assert api.client.get(f"/backtests/{spell(first)}").status_code == 200
    assert api.client.get(f"/backtests/{spell(first)}/delete").status_code == 200

    exclusion = f"/api/v1/backtests/{spell(second)}/exclusion"
    excluded = api.client.post(exclusion, json={"reason": "a test run"}, headers=api.auth("alice"))
    assert excluded.status_code == 201 and excluded.json()["backtest_id"] == second
    deleted = api.client.delete(f"/api/v1/backtests/{spell(third)}", headers=api.auth("alice"))
    assert deleted.status_code == 204
    assert api.get(f"/api/v1/backtests/{third}").status_code == 404


@pytest.mark.parametrize("read", [*READS, "/exclusion"])
def test_anything_but_a_uuid_names_no_backtest(api: Api, read: str) -> None:
    backtest_id = api.record().json()["backtest_id"]
    for wrong in (backtest_id + "0", backtest_id[:-1] + "g", "not-an-id"):
        if read == "/exclusion":
            answer = api.client.post(f"/api/v1/backtests/{wrong}/exclusion",
                                     json={"reason": "x"}, headers=api.auth("alice"))  # fmt: skip
        else:
            answer = api.get(f"/api/v1/backtests/{wrong}{read.partition('?')[0]}")
        assert answer.status_code == 404, (wrong, read, answer.text[:200])
        assert answer.headers["content-type"].startswith("application/problem+json")
