"""A backtest's provenance over HTTP, on both stores: kept in the event, served in the
detail, searchable with ``where``, a column group of the sweep export, and compared;
a backtest without one reads null and its sweep's table is as it was; a bad one is a
422 naming the field that appends nothing."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.api.conftest import Api
from tests.factories import backtest_document

COMMIT_A, COMMIT_B = "a" * 40, "b" * 40
DATA_X, DATA_Y = "1" * 64, "2" * 64
SOURCE = "c" * 64


def provenance(commit: str, data: str) -> dict[str, Any]:
    return {
        "code": {"repository": "git@example.org:desk/strategies.git", "commit": commit,
                 "dirty": False, "source_sha256": SOURCE, "entry_point": "sma.py"},
        "data": {"sha256": data, "rows": 30, "first": "2024-01-01", "last": "2024-01-30",
                 "source": "arch.data.sp500"},
        "environment": {"python": "3.11.7", "packages": {"numpy": "2.1.0", "pandas": "2.2.3"}},
    }  # fmt: skip


def _record(api: Api, doc: dict[str, Any]) -> str:
    response = api.record(document=doc)
    assert response.status_code == 201, response.text
    backtest_id: str = response.json()["backtest_id"]
    return backtest_id


def _sweep(api: Api, experiment: str) -> dict[str, str]:
    """Three variants: two on data X with commit A, one on data Y with commit B, and
    one without a provenance; their ids by name."""
    ids = {}
    for name, given in [("first", provenance(COMMIT_A, DATA_X)),
                        ("same", provenance(COMMIT_A, DATA_X)),
                        ("other", provenance(COMMIT_B, DATA_Y)), ("none", None)]:  # fmt: skip
        doc = backtest_document(days=30, trades=1, seed=len(ids) + 1)
        doc.update(experiment=experiment, parameters={"name": name})
        if given is not None:
            doc["provenance"] = given
        ids[name] = _record(api, doc)
    return ids


def test_the_provenance_is_kept_in_the_event_and_served_in_the_detail(api: Api) -> None:
    ids = _sweep(api, "prov")
    detail = api.get(f"/api/v1/backtests/{ids['first']}").json()
    assert detail["provenance"] == provenance(COMMIT_A, DATA_X)
    assert api.get(f"/api/v1/backtests/{ids['none']}").json()["provenance"] is None
    with api.engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT data, schema_version FROM events WHERE stream_id = :id"),
            {"id": ids["first"]},
        ).one()
        plain = conn.execute(
            sa.text("SELECT data FROM events WHERE stream_id = :id"), {"id": ids["none"]}
        ).scalar_one()
    data = bytes(stored[0]).decode()
    assert stored[1] == 5 and f'"commit":"{COMMIT_A}"' in data
    assert b"provenance" not in bytes(plain)  # absent from the bytes when not sent


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (f"provenance.code.commit = '{COMMIT_A}'", {"first", "same"}),
        (f"provenance.data.sha256 = '{DATA_Y}'", {"other"}),
        (
            "provenance.code.dirty = false and provenance.data.rows >= 30",
            {"first", "same", "other"},
        ),
        ("provenance.environment.packages.numpy = '2.1.0'", {"first", "same", "other"}),
        ("provenance is null", set()),  # no such list field: a 400 (below)
        ("provenance.code.commit is null", {"none"}),
    ],
)
def test_where_finds_backtests_by_their_provenance(
    api: Api, where: str, expected: set[str]
) -> None:
    ids = _sweep(api, "prov")
    names = {backtest_id: name for name, backtest_id in ids.items()}
    response = api.get("/api/v1/backtests", where=where, limit=50)
    if where == "provenance is null":
        assert response.status_code == 400
        assert "provenance.<dotted path>" in response.json()["detail"]
        return
    assert response.status_code == 200, response.text
    assert {names[item["backtest_id"]] for item in response.json()["items"]} == expected


def test_the_sweep_export_ends_with_the_provenance_columns(api: Api) -> None:
    ids = _sweep(api, "prov")
    response = api.get("/api/v1/experiments/prov/backtests.csv", sort="position")
    assert response.status_code == 200, response.text
    table = pd.read_csv(io.StringIO(response.text), dtype=str, keep_default_na=False)
    given = [c for c in table.columns if c.startswith("provenance.")]
    assert table.columns[-len(given):].tolist() == given  # the last columns  # fmt: skip
    assert set(given) == {
        "provenance.code.repository", "provenance.code.commit", "provenance.code.dirty",
        "provenance.code.source_sha256", "provenance.code.entry_point",
        "provenance.data.sha256", "provenance.data.rows", "provenance.data.first",
        "provenance.data.last", "provenance.data.source", "provenance.environment.python",
        "provenance.environment.packages.numpy", "provenance.environment.packages.pandas",
    }  # fmt: skip
    rows = table.set_index("backtest_id")
    assert rows.loc[ids["first"], "provenance.code.commit"] == COMMIT_A
    assert rows.loc[ids["other"], "provenance.data.sha256"] == DATA_Y
    assert rows.loc[ids["other"], "provenance.code.dirty"] == "false"
    assert rows.loc[ids["first"], "provenance.data.rows"] == "30"
    assert rows.loc[ids["none"], "provenance.code.commit"] == ""

    parquet = api.get("/api/v1/experiments/prov/backtests.parquet", sort="position")
    schema = pq.read_schema(io.BytesIO(parquet.content))
    assert schema.field("provenance.code.dirty").type == pa.bool_()
    assert schema.field("provenance.data.rows").type == pa.int64()
    typed = pd.read_parquet(io.BytesIO(parquet.content)).set_index("backtest_id")
    in_order = [ids[name] for name in ("first", "same", "other", "none")]
    dirty = pq.read_table(io.BytesIO(parquet.content)).column("provenance.code.dirty")
    assert dict(zip(typed.index, dirty.to_pylist(), strict=True)) == dict(
        zip(in_order, [False, False, False, None], strict=True)
    )
    assert typed.loc[ids["first"], "provenance.data.rows"] == 30
    assert typed.loc[ids["other"], "provenance.environment.packages.pandas"] == "2.2.3"
    assert pd.isna(typed.loc[ids["none"], "provenance.code.commit"])


def test_a_sweep_without_provenance_exports_as_before(api: Api) -> None:
    doc = backtest_document(days=30, trades=1)
    doc.update(experiment="plain", parameters={"fast": 5})
    _record(api, doc)
    csv = api.get("/api/v1/experiments/plain/backtests.csv").text
    header = csv.splitlines()[0].split(",")
    assert header[-1] == "param.fast" and not any(c.startswith("provenance.") for c in header)


def test_compare_says_whether_the_backtests_ran_on_the_same_data_and_code(api: Api) -> None:
    ids = _sweep(api, "prov")
    same = api.get("/api/v1/backtests/compare", ids=f"{ids['first']},{ids['same']}").json()
    assert same["provenance"] == {"same_data": True, "same_code": True, "notes": []}
    other = api.get("/api/v1/backtests/compare", ids=f"{ids['first']},{ids['other']}").json()
    assert other["provenance"]["same_data"] is False
    assert other["provenance"]["same_code"] is False
    notes = " | ".join(other["provenance"]["notes"])
    assert "different data: sha256" in notes and "different code: commit" in notes
    assert "#1: 111111111111" in notes and "#2: 222222222222" in notes
    unknown = api.get("/api/v1/backtests/compare", ids=f"{ids['first']},{ids['none']}").json()
    assert unknown["provenance"] == {"same_data": None, "same_code": None, "notes": []}
    full = api.get("/api/v1/backtests/compare", ids=f"{ids['first']},{ids['other']}", points=100)
    assert full.json()["provenance"] == other["provenance"]


@pytest.mark.parametrize(
    ("bad", "pointer"),
    [
        ({"code": {"commit": "not-hex"}}, "/provenance/code/commit"),
        ({"code": {"commit": "A" * 40}}, "/provenance/code/commit"),
        ({"code": {"dirty": "yes"}}, "/provenance/code/dirty"),
        ({"code": {"unknown": 1}}, "/provenance/code"),
        ({"data": {"sha256": "1" * 63}}, "/provenance/data/sha256"),
        ({"data": {"rows": -1}}, "/provenance/data/rows"),
        ({"data": {"source": "x" * 501}}, "/provenance/data/source"),
        ({"data": {"source": "line\nbreak"}}, "/provenance/data/source"),
        (
            {"environment": {"packages": {f"p{n}": "1" for n in range(201)}}},
            "/provenance/environment/packages",
        ),
        ({"environment": {"packages": {"numpy": 2}}}, "/provenance/environment/packages"),
        ({"elsewhere": {}}, "/provenance"),
        ("a string", "/provenance"),
    ],
)
def test_a_bad_provenance_is_a_422_naming_the_field_and_stores_nothing(
    shared_api: Api, bad: Any, pointer: str
) -> None:
    api = shared_api
    doc = backtest_document(days=5, trades=0)
    doc["provenance"] = bad
    before = api.event_count()
    response = api.record(document=doc)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["pointer"].startswith(pointer)
    assert api.event_count() == before


def test_the_report_page_shows_the_provenance_and_compare_flags_what_differs(api: Api) -> None:
    from tests.api.test_pages_http import sign_in

    ids = _sweep(api, "prov")
    doc = backtest_document(days=30, trades=0)
    doc["provenance"] = {"data": {"source": "<script>alert(1)</script>"}}
    hostile = _record(api, doc)
    sign_in(api, "alice")
    page = api.client.get(f"/backtests/{ids['first']}").text
    section = page[page.index('id="provenance"') :]
    shown = [("code.commit", COMMIT_A), ("data.sha256", DATA_X), ("code.dirty", "false"),
             ("environment.packages.numpy", "2.1.0")]  # fmt: skip
    for path, value in shown:
        row = f'<th scope="row">{path}</th><td><code>{value}</code>'
        assert row in section, path
    assert "Not recorded" in api.client.get(f"/backtests/{ids['none']}").text
    escaped = api.client.get(f"/backtests/{hostile}").text
    assert "<script>alert(1)" not in escaped and "&lt;script&gt;alert(1)" in escaped

    flagged = api.client.get("/compare", params={"ids": [ids["first"], ids["other"]]}).text
    assert 'id="provenance"' in flagged and "different data: sha256" in flagged
    alike = api.client.get("/compare", params={"ids": [ids["first"], ids["same"]]}).text
    assert 'id="provenance"' not in alike
