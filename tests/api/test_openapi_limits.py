"""The OpenAPI document states the limits the service enforces, so that a client
generated from it never sends a request the service refuses for a stated reason; and
OPTIONS lists every method of a resource. (``make contract`` runs Schemathesis with
every check against a served ledger; these are the findings it once had.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api
from tests.factories import backtest_document


def _spec(api: Api) -> dict[str, Any]:
    return api.client.get("/schema/openapi.json").json()  # type: ignore[no-any-return]


def _parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p["schema"] for p in operation["parameters"] if p["name"] == name)


def test_the_record_body_refuses_what_the_service_refuses(api: Api) -> None:
    spec = _spec(api)
    body = spec["paths"]["/api/v1/backtests"]["post"]["requestBody"]["content"]
    name = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    properties = spec["components"]["schemas"][name]["properties"]
    assert properties["daily_results"]["minItems"] == 1
    assert properties["initial_capital"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "the equity before the first bar",
    }
    for field, value in (("daily_results", []), ("initial_capital", None)):
        body = {**backtest_document(days=5), field: value}
        sent = api.client.post("/api/v1/backtests", json=body, headers=api.auth("alice"))
        assert sent.status_code == 422, (field, sent.text)
        assert [e["pointer"] for e in sent.json()["errors"]] == [f"/{field}"]


def test_query_limits_are_stated_and_enforced(api: Api) -> None:
    paths = _spec(api)["paths"]
    compare = paths["/api/v1/backtests/compare"]["get"]
    assert _parameter(compare, "ids")["pattern"]
    assert api.get("/api/v1/backtests/compare", ids="0").status_code == 400
    significance = paths["/api/v1/backtests/{backtest_id}/significance"]["get"]
    assert _parameter(significance, "block_length")["minimum"] == 1
    backtest_id = api.record().json()["backtest_id"]
    below = api.get(f"/api/v1/backtests/{backtest_id}/significance", block_length=0.5)
    assert below.status_code == 400
    feed = paths["/api/v1/events"]["get"]
    assert _parameter(feed, "after")["maximum"] == 2**53 - 1  # exact as a JSON number


def test_a_204_is_documented_without_a_body_and_sent_without_one(api: Api) -> None:
    operation = _spec(api)["paths"]["/api/v1/backtests/{backtest_id}"]["delete"]
    assert "content" not in operation["responses"]["204"]
    backtest_id = api.record().json()["backtest_id"]
    deleted = api.client.delete(f"/api/v1/backtests/{backtest_id}", headers=api.auth("alice"))
    assert deleted.status_code == 204 and deleted.content == b""
    assert "content-type" not in deleted.headers


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/backtests", "GET, OPTIONS, POST"),
        ("/api/v1/backtests/7f0c2a4e-0c1b-4d6e-9a51-3f1e2d4c5b6a", "DELETE, GET, OPTIONS"),
        ("/api/v1/backtests/7f0c2a4e-0c1b-4d6e-9a51-3f1e2d4c5b6a/exclusion", "OPTIONS, POST"),
        ("/backtests/7f0c2a4e-0c1b-4d6e-9a51-3f1e2d4c5b6a/delete", "GET, OPTIONS, POST"),
    ],
)
def test_options_lists_every_method_of_the_resource(api: Api, path: str, allowed: str) -> None:
    answer = api.client.options(path)
    assert answer.status_code == 204
    assert answer.headers["allow"] == allowed
