"""Analyses of a whole experiment over HTTP, on both stores: queued (202 with its
Location), run by the service's own worker, read back with the PBO recomputed here
from the submitted bodies and SPA/StepM/MCS from arch's own calls on that matrix; the
same inputs and trials are the same analysis, a new variant a new one; what cannot run
is refused or fails naming why; a queued one is cancelled."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from arch.bootstrap import MCS, SPA, StepM
from litestar.testing import TestClient

from api.app import create_app
from domain.overfitting import probability_of_backtest_overfitting
from infrastructure.settings import Settings
from tests.api.conftest import Api, make_keys
from tests.factories import backtest_document, body

INPUTS = {"partitions": 8, "reps": 200, "seed": 3}


def _variant(n: int, experiment: str = "grid") -> dict[str, Any]:
    doc = backtest_document(days=160, trades=0, seed=100 + n)
    doc.update(experiment=experiment, parameters={"fast": [5, 10, 20][n % 3],
                                                  "slow": [50, 100, 200][n // 3]})  # fmt: skip
    return doc


def _returns(doc: dict[str, Any]) -> np.ndarray:
    equity = np.array([row["equity"] for row in doc["daily_results"]])
    return equity / np.concatenate([[doc["initial_capital"]], equity[:-1]]) - 1


def _post(api: Api, experiment: str, inputs: Any = INPUTS, who: str = "alice") -> Any:
    content = inputs if isinstance(inputs, bytes) else body(inputs)
    headers = {**api.auth(who), "Content-Type": "application/json"}
    return api.client.post(f"/api/v1/experiments/{experiment}/analyses", content=content,
                           headers=headers)  # fmt: skip


def _finished(api: Api, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found: dict[str, Any] = api.client.get(location, headers=api.auth("alice")).json()
        if found["status"] not in ("queued", "running"):
            return found
        time.sleep(0.1)
    raise AssertionError(f"{location} still {found['status']} after 60 s")


def test_an_analysis_runs_in_the_background_and_equals_the_independent_figures(
    analysing_api: Api,
) -> None:
    api = analysing_api
    docs = [_variant(n) for n in range(6)]
    ids = [api.record(document=doc).json()["backtest_id"] for doc in docs]
    queued = _post(api, "grid")
    assert queued.status_code == 202, queued.text
    location = queued.headers["location"]
    assert location == f"/api/v1/experiments/grid/analyses/{queued.json()['analysis_id']}"
    assert queued.json()["status"] in ("queued", "running", "done")
    done = _finished(api, location)
    assert done["status"] == "done" and done["progress"] == 1.0, done
    result = done["result"]

    matrix = np.column_stack([_returns(doc) for doc in docs])  # the same dates: all rows
    assert result["matrix"]["backtest_ids"] == ids and result["matrix"]["rows"] == 160
    expected = probability_of_backtest_overfitting(matrix, 8, 365)
    pbo = result["pbo"]
    assert pbo["pbo"] == expected.pbo and pbo["combinations"] == 70
    assert pbo["probability_of_loss"] == expected.probability_of_loss
    assert pbo["degradation"]["slope"] == pytest.approx(expected.degradation.slope, rel=1e-12)
    assert pbo["histogram_counts"] == expected.histogram_counts

    spa = SPA(np.zeros(160), -matrix, reps=200, seed=3)
    spa.compute()
    ability = result["superior_ability"]
    assert ability["spa"]["upper"] == float(spa.pvalues["upper"]) == ability["reality_check"]
    assert ability["spa"]["lower"] == float(spa.pvalues["lower"])
    stepm = StepM(np.zeros(160), -matrix, size=0.05, reps=200, seed=3)
    stepm.compute()
    assert ability["stepm"] == [ids[int(i)] for i in sorted(stepm.superior_models)]
    mcs = MCS(-matrix, size=0.05, reps=200, method="R", seed=3)
    mcs.compute()
    assert ability["mcs"] == [ids[int(i)] for i in sorted(mcs.included)]
    # the best variant's Deflated Sharpe Ratio is its significance report's
    best = max(ids, key=lambda i: api.get(f"/api/v1/backtests/{i}").json()["metrics"]["sharpe"])
    report = api.get(f"/api/v1/backtests/{best}/significance", samples=100).json()["dsr"]
    assert result["dsr"]["backtest_id"] == best and result["dsr"]["value"] == report["value"]
    assert result["dsr"]["trials"] == report["trials"] == 6
    # a 3 × 2 grid of fast and slow: the best variant's neighbours are on it
    stability = result["stability"]
    assert stability["best"] in ids and set(stability["neighbour_sharpe"]) == set(ids)

    again = _post(api, "grid")  # the same inputs and trials: the same analysis, done
    assert again.status_code == 200 and again.json()["analysis_id"] == done["analysis_id"]
    assert again.json()["result"] == result
    api.record(document=_variant(6))  # a new variant: a new analysis
    renewed = _post(api, "grid")
    assert renewed.status_code == 202 and renewed.json()["analysis_id"] != done["analysis_id"]
    assert len(_finished(api, renewed.headers["location"])["result"]["matrix"]["backtest_ids"]) == 7


def test_a_benchmark_backtest_is_what_the_variants_must_beat(analysing_api: Api) -> None:
    api = analysing_api
    docs = [_variant(n) for n in range(4)]
    ids = [api.record(document=doc).json()["backtest_id"] for doc in docs]
    done = _finished(api, _post(api, "grid", {**INPUTS, "benchmark": ids[0].upper()})
                     .headers["location"])  # fmt: skip
    ability = done["result"]["superior_ability"]
    assert ability["benchmark"] == ids[0]  # any spelling, stored as the id
    assert done["result"]["matrix"]["backtest_ids"] == ids[1:]
    matrix = np.column_stack([_returns(doc) for doc in docs[1:]])
    spa = SPA(-_returns(docs[0]), -matrix, reps=200, seed=3)
    spa.compute()
    assert ability["spa"]["upper"] == float(spa.pvalues["upper"])


def test_what_cannot_run_is_refused_or_fails_naming_why(analysing_api: Api) -> None:
    api = analysing_api
    assert _post(api, "nothing").status_code == 404
    api.record(document=_variant(0, "alone"))
    alone = _post(api, "alone")
    assert alone.status_code == 422 and "1 live trial(s)" in alone.json()["detail"]
    short = [backtest_document(days=30, trades=0, seed=n) for n in range(3)]
    for doc in short:
        doc["experiment"] = "short"
        api.record(document=doc)
    few = _post(api, "short", {"partitions": 16})  # every variant < 64 returns: left out
    assert few.status_code == 422 and "0 variant(s): at least 2" in few.json()["detail"]
    apart = [backtest_document(days=60, trades=0, seed=n, start=dt.date(2024, 1, 1) +
                               dt.timedelta(days=40 * n)) for n in range(2)]  # fmt: skip
    for doc in apart:
        doc["experiment"] = "apart"
        api.record(document=doc)
    overlap = _post(api, "apart", {"partitions": 4})  # 20 days in common, 16 needed: runs
    assert overlap.status_code == 202, overlap.text
    narrow = _post(api, "apart", {"partitions": 6})
    assert narrow.status_code == 422, narrow.text
    assert "20 rows: at least 4 × partitions = 24" in narrow.json()["detail"]
    with api.engine.connect() as conn:  # the refused ones were not queued
        queued = conn.execute(sa.text("SELECT experiment FROM analyses")).scalars().all()
    assert sorted(queued) == ["apart"]
    for doc in [_variant(n) for n in range(3)]:
        api.record(document=doc)
    for bad, pointer in [({"partitions": 7}, "/partitions"), ({"partitions": 26}, "/partitions"),
                         ({"reps": 0}, "/reps"), ({"size": 1.0}, "/size"),
                         ({"block_length": 0}, "/block_length"), ({"seed": -1}, "/seed"),
                         ({"other": 1}, ""), ({"benchmark": "nope"}, "/benchmark"),
                         (b"[1, 2]", ""), (b"{", "")]:  # fmt: skip
        refused = _post(api, "grid", bad)
        assert refused.status_code in (400, 422), (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        if refused.status_code == 422:
            assert refused.json()["errors"][0]["pointer"].startswith(pointer), bad
    plain = {**api.auth("alice"), "Content-Type": "text/plain"}
    typed = api.client.post("/api/v1/experiments/grid/analyses", content=b"partitions=8",
                            headers=plain)  # fmt: skip
    assert typed.status_code == 415
    assert _post(api, "grid", who="carol").status_code == 403  # auditors read, never queue
    queued = _post(api, "grid")
    location = queued.headers["location"]
    assert api.client.get(location, headers=api.auth("bob")).status_code == 404
    assert api.client.get(location, headers=api.auth("carol")).status_code == 200
    assert api.client.get(location.replace("/grid/", "/other/"),
                          headers=api.auth("alice")).status_code == 404  # fmt: skip
    unauthenticated = api.client.get(location)
    assert unauthenticated.status_code == 401


@pytest.fixture
def idle_api(engine: sa.Engine, database_url: str) -> Iterator[Api]:
    """The API of a service that runs no analyses itself: its jobs stay queued."""
    keys = make_keys(engine)
    app = create_app(Settings(database_url=database_url, analysis_workers=0))
    with TestClient(app=app) as client:
        yield Api(client, engine, keys)


def test_a_queued_analysis_is_cancelled_once(idle_api: Api) -> None:
    api = idle_api
    for doc in [_variant(n) for n in range(3)]:
        api.record(document=doc)
    queued = _post(api, "grid")
    location = queued.headers["location"]
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    assert api.client.delete(location, headers=api.auth("bob")).status_code == 404
    assert api.client.delete(location, headers=api.auth("alice")).status_code == 204
    cancelled = api.client.get(location, headers=api.auth("alice")).json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None
    again = api.client.delete(location, headers=api.auth("alice"))
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]
    requeued = _post(api, "grid")  # asked again: queued again, the same analysis
    assert requeued.status_code == 202 and requeued.json()["status"] == "queued"
    assert requeued.headers["location"] == location
    assert pd.Timestamp(requeued.json()["created_at"]) >= pd.Timestamp(cancelled["created_at"])


def test_the_experiment_page_queues_the_analysis_and_shows_it(analysing_api: Api) -> None:
    api = analysing_api
    from tests.api.test_pages_http import post_form, sign_in

    for doc in [_variant(n) for n in range(6)]:
        api.record(document=doc)
    sign_in(api, "alice")
    page = api.client.get("/experiments/grid").text
    assert "No analysis of this sweep yet" in page and 'id="analyse"' in page
    queued = post_form(api, "/experiments/grid/analyses", page="/experiments/grid")
    assert queued.status_code == 303 and queued.headers["location"] == "/experiments/grid#analysis"
    deadline = time.monotonic() + 60
    while 'id="pbo"' not in (page := api.client.get("/experiments/grid").text):
        assert 'http-equiv="refresh"' in page and 'id="analysis-progress"' in page
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert 'http-equiv="refresh"' not in page  # done: it stops refreshing
    result = api.get(f"/api/v1/experiments/grid/analyses/{queued_id(api)}").json()["result"]
    assert f'<dd id="pbo">{result["pbo"]["pbo"]:.3f}</dd>' in page
    assert f"{result['superior_ability']['reality_check']:.4f}" in page
    assert page.count('class="badge stepm"') == len(result["superior_ability"]["stepm"])
    assert page.count('class="badge mcs"') == len(result["superior_ability"]["mcs"])
    combinations = result["pbo"]["combinations"]  # the page asks with the defaults: S = 16
    assert combinations == 12_870 and f'data-total="{combinations}"' in page
    api.record(document=_variant(6))
    assert "analyse again for the sweep as it is" in api.client.get("/experiments/grid").text
    sign_in(api, "carol")  # an auditor reads it, and cannot queue one
    audited = api.client.get("/experiments/grid").text
    assert 'id="pbo"' in audited and 'id="analyse"' not in audited
    refused = post_form(api, "/experiments/grid/analyses", page="/experiments/grid")
    assert refused.status_code in (401, 403)


def queued_id(api: Api) -> str:
    with api.engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT analysis_id FROM analyses")).scalar_one())
