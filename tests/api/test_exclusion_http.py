"""Excluding a mistaken backtest from the trials (``BacktestExcludedFromTrials``) over
HTTP, on both stores: who may, what a bad request gets, and what it changes — the
history, the significance report's count and its DSR, the experiment's trials —
while the backtest itself stays listed; a rebuild gives the same read models."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from scipy import stats

from projections.rebuild import rebuild, verify
from tests.api.conftest import Api
from tests.api.test_pages_http import sign_in
from tests.factories import backtest_document


def _three(api: Api, experiment: str | None = None) -> list[str]:
    ids = []
    for seed in (1, 2, 3):
        doc = backtest_document(days=120, seed=seed)
        if experiment is not None:
            doc["experiment"] = experiment
        ids.append(api.record(document=doc).json()["backtest_id"])
    return ids


def _exclude(api: Api, backtest_id: str, body: Any, who: str = "alice"):  # type: ignore[no-untyped-def]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.client.post(
        f"/api/v1/backtests/{backtest_id}/exclusion",
        content=content,
        headers={**api.auth(who), "Content-Type": "application/json"},
    )


def _dsr(api: Api, backtest_id: str) -> dict[str, Any]:
    report = api.get(f"/api/v1/backtests/{backtest_id}/significance", samples=100)
    assert report.status_code == 200, report.text
    dsr: dict[str, Any] = report.json()["dsr"]
    return dsr


def test_an_excluded_backtest_is_no_trial_but_stays_listed_and_in_history(api: Api) -> None:
    first, mistake, third = _three(api)
    assert _dsr(api, first)["trials"] == 3

    response = _exclude(api, mistake, {"reason": "  posted the test fixture by mistake "})
    assert response.status_code == 201, response.text
    assert response.json()["reason"] == "posted the test fixture by mistake"

    dsr = _dsr(api, first)
    assert (dsr["trials"], dsr["recorded"], dsr["excluded"]) == (2, 3, 1)
    # the DSR's expected maximum Sharpe is now that of two trials: SR0 = σ·((1−γ)Φ⁻¹(1−1/N)
    # + γΦ⁻¹(1−1/(N·e))) over the two remaining Sharpe ratios (Bailey & López de Prado)
    sharpes = []
    for backtest_id in (first, third):
        detail = api.get(f"/api/v1/backtests/{backtest_id}").json()
        sharpes.append(detail["metrics"]["sharpe"] / detail["periods_per_year"] ** 0.5)
    gamma, n = 0.5772156649015329, 2
    quantiles = stats.norm.ppf([1 - 1 / n, 1 - 1 / (n * math.e)])
    sr0 = stats.tstd(sharpes) * ((1 - gamma) * quantiles[0] + gamma * quantiles[1])
    assert dsr["sr0"] == pytest.approx(sr0, rel=1e-9)

    listed = api.get("/api/v1/backtests").json()["items"]
    assert mistake in [item["backtest_id"] for item in listed]
    history = api.get(f"/api/v1/backtests/{mistake}/history").json()["events"]
    assert [e["event_type"] for e in history] == ["BacktestRecorded", "BacktestExcludedFromTrials"]
    assert history[1]["data"] == {"type": "BacktestExcludedFromTrials", "backtest_id": mistake,
                                  "reason": "posted the test fixture by mistake"}  # fmt: skip

    sign_in(api, "alice")
    page = api.client.get(f"/backtests/{first}")
    assert page.status_code == 200
    assert "3 recorded, 1 excluded as mistakes" in page.text

    rebuild(api.engine)
    assert verify(api.engine).ok


def test_excluding_an_experiments_variant_lowers_its_trials(api: Api) -> None:
    ids = _three(api, experiment="grid")
    assert _exclude(api, ids[0], {"reason": "wrong data file"}).status_code == 201
    [row] = api.get("/api/v1/experiments").json()
    assert (row["live"], row["trials"]) == (3, 2)
    assert _dsr(api, ids[1])["excluded"] == 1


@pytest.mark.parametrize(
    ("body", "status", "pointer"),
    [({"reason": ""}, 422, "/reason"),
     ({"reason": "   "}, 422, "/reason"),
     ({"reason": "x" * 501}, 422, "/reason"),
     ({"reason": "nul \u0000"}, 422, "/reason"),
     ({}, 422, "/reason"),
     ({"reason": "ok", "colour": "red"}, 422, "/colour"),
     ({"reason": 5}, 422, "/reason"),
     (b"{", 400, None),
     (b'"reason"', 422, None)],
)  # fmt: skip
def test_a_bad_exclusion_request_is_a_problem_and_appends_nothing(
    api: Api, body: Any, status: int, pointer: str | None
) -> None:
    [backtest_id, *_] = _three(api)
    before = api.event_count()
    response = _exclude(api, backtest_id, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if pointer is not None:
        assert [e["pointer"] for e in response.json()["errors"]] == [pointer]
    assert api.event_count() == before


def test_only_the_owner_excludes_and_only_once(api: Api) -> None:
    [backtest_id, *_] = _three(api)
    reason = {"reason": "a test post"}
    assert _exclude(api, backtest_id, reason, who="bob").status_code == 404
    assert _exclude(api, backtest_id, reason, who="carol").status_code == 403
    assert _exclude(api, "not-a-uuid", reason).status_code == 404
    assert _exclude(api, backtest_id, reason).status_code == 201
    again = _exclude(api, backtest_id, reason)
    assert again.status_code == 409 and "already excluded" in again.json()["detail"]
    unauthenticated = api.client.post(f"/api/v1/backtests/{backtest_id}/exclusion",
                                      content=b'{"reason": "x"}')  # fmt: skip
    assert unauthenticated.status_code == 401
    deleted = _three(api)[0]
    removed = api.client.delete(f"/api/v1/backtests/{deleted}", headers=api.auth("alice"))
    assert removed.status_code == 204
    assert _exclude(api, deleted, reason).status_code == 404


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(api: Api) -> None:
    first_id, second_id, _ = _three(api)
    url = f"/api/v1/backtests/{first_id}/exclusion"

    def send(reason: str, path: str = url) -> Any:
        return api.client.post(path, json={"reason": reason},
                               headers={**api.auth("alice"), "Idempotency-Key": "k-1"})  # fmt: skip

    first = send("a test run")
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = send("a test run")  # the 201 was lost: the client retries
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert send("another reason").status_code == 409  # the key, for another request
    assert send("a test run", f"/api/v1/backtests/{second_id}/exclusion").status_code == 409
    history = api.get(f"/api/v1/backtests/{first_id}/history").json()["events"]
    assert [e["event_type"] for e in history].count("BacktestExcludedFromTrials") == 1


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_an_exclusion_is_json_only(api: Api, content_type: str) -> None:
    backtest_id = _three(api)[0]
    headers = {**api.auth("alice"), "Content-Type": content_type}
    answer = api.client.post(f"/api/v1/backtests/{backtest_id}/exclusion",
                             content=b'{"reason": "a test run"}', headers=headers)  # fmt: skip
    assert answer.status_code == 415, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_five_hundred_emoji_escaped_by_json_dumps_are_a_reason(api: Api) -> None:
    backtest_id = _three(api)[0]
    reason = "\U0001f600" * 500
    body = json.dumps({"reason": reason}).encode()  # ASCII: each emoji is 12 bytes
    assert len(body) > 6000
    answer = _exclude(api, backtest_id, body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["reason"] == reason


@pytest.mark.parametrize(
    "reason", ["\x1b[31mred", "ok \u202egnp.exe", "\u200b", "\u2066x\u2069", "a\x00b"]
)
def test_control_and_direction_characters_are_no_reason(api: Api, reason: str) -> None:
    backtest_id = _three(api)[0]
    answer = _exclude(api, backtest_id, {"reason": reason})
    assert answer.status_code == 422, answer.text
    assert [e["pointer"] for e in answer.json()["errors"]] == ["/reason"]


def test_joiners_and_any_script_are_a_reason(api: Api) -> None:
    backtest_id = _three(api)[0]
    reason = "家族 \U0001f468\u200d\U0001f469\u200d\U0001f467 — données erronées\n(2e ligne)"
    answer = _exclude(api, backtest_id, {"reason": reason})
    assert answer.status_code == 201 and answer.json()["reason"] == reason


def test_the_openapi_document_describes_the_exclusion_body(api: Api) -> None:
    spec = api.client.get("/schema/openapi.json").json()
    operation = spec["paths"]["/api/v1/backtests/{backtest_id}/exclusion"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["required"] == ["reason"]
    assert schema["properties"]["reason"]["maxLength"] == 500
    assert {p["name"] for p in operation["parameters"]} >= {"backtest_id", "Idempotency-Key"}
