"""Conditional GETs on both stores: every read of one backtest or one sweep carries a
strong ETag and ``Cache-Control: private, no-cache``; ``If-None-Match`` with it is a 304
that reads no stored series (counted on the connections); the tag moves when what the
answer depends on moves (an exclusion, a new variant, a deletion, a new trial), and a
detail read again in the same process comes from its cache of rendered details."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import Any

import pytest
import sqlalchemy as sa

from infrastructure.database import write_transaction
from infrastructure.tables import backtests
from infrastructure.users import revoke_user
from projections import documents
from projections.rebuild import rebuild
from projections.search import search_query
from projections.sweep_export import stream_sweep
from tests.api.conftest import Api
from tests.api.statements import statements_sent
from tests.factories import backtest_document

SERIES_TABLES = ("backtest_series", "backtest_documents")


def series_reads() -> AbstractContextManager[list[str]]:
    """The statements that read a stored series while the block runs."""
    return statements_sent(lambda statement: any(t in statement for t in SERIES_TABLES))


def _record(api: Api, experiment: str | None = None, seed: int = 1) -> str:
    doc = backtest_document(days=120, trades=4, seed=seed)
    if experiment is not None:
        doc["experiment"] = experiment
    answer = api.record(document=doc)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["backtest_id"])


def _again(api: Api, path: str, tag: str, **params: Any) -> Any:
    return api.client.get(path, params=params,
                          headers={**api.auth("alice"), "If-None-Match": tag})  # fmt: skip


READS = ["", "/daily.csv", "/monthly.csv", "/trades.csv", "/history"]


@pytest.mark.parametrize("read", READS)
def test_a_read_of_one_backtest_is_revalidated_without_reading_its_series(
    api: Api, read: str
) -> None:
    backtest_id = _record(api)
    path = f"/api/v1/backtests/{backtest_id}{read}"
    first = api.get(path)
    assert first.status_code == 200
    tag = first.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")
    assert first.headers["cache-control"] == "private, no-cache"
    with series_reads() as seen:
        held = _again(api, path, tag)
    assert held.status_code == 304 and held.content == b"" and seen == []
    assert held.headers["etag"] == tag
    # a list of tags, one of them weak, still names it; another tag does not
    assert _again(api, path, f'"other", W/{tag}').status_code == 304
    assert _again(api, path, '"other"').status_code == 200
    # an exclusion is an event of the stream: every answer's tag moves
    excluded = api.client.post(
        f"/api/v1/backtests/{backtest_id}/exclusion", json={"reason": "a test run"},
        headers=api.auth("alice"),
    )  # fmt: skip
    assert excluded.status_code == 201
    moved = _again(api, path, tag)
    assert moved.status_code == 200 and moved.headers["etag"] != tag
    assert moved.content == first.content or read == "/history"
    # deleted: not found, whatever the client holds (the history is the owner's still)
    assert api.client.delete(f"/api/v1/backtests/{backtest_id}",
                             headers=api.auth("alice")).status_code == 204  # fmt: skip
    gone = _again(api, path, moved.headers["etag"])
    assert gone.status_code == (200 if read == "/history" else 404)
    # another user's backtest is not found, tag or not
    assert api.client.get(path, headers={**api.auth("bob"), "If-None-Match": "*"}
                          ).status_code == 404  # fmt: skip


@pytest.mark.parametrize("kind", ["detail", "daily", "monthly", "trades"])
def test_a_read_is_kept_rendered_and_never_served_stale(api: Api, kind: str) -> None:
    backtest_id = _record(api)
    path = f"/api/v1/backtests/{backtest_id}" + ("" if kind == "detail" else f"/{kind}.csv")
    with series_reads() as seen:
        first = api.get(path)
    assert seen != []  # rendered from the stored series once
    with series_reads() as seen:
        kept = api.get(path)
    assert seen == [] and kept.content == first.content  # then from the process's cache
    assert kept.headers["etag"] == first.headers["etag"]
    for name in ("content-type", "content-disposition"):
        assert kept.headers.get(name) == first.headers.get(name), name
    # the same bytes as a rendering that no cache is in the way of
    rendered = documents.read_document(api.engine, backtest_id, kind)  # type: ignore[arg-type]
    assert b"".join(rendered.parts()) == kept.content
    # an exclusion moves the stream: read again, under a new tag
    exclusion = f"/api/v1/backtests/{backtest_id}/exclusion"
    api.client.post(exclusion, json={"reason": "a dry run"}, headers=api.auth("alice"))
    with series_reads() as seen:
        moved = api.get(path)
    assert seen != [] and moved.headers["etag"] != first.headers["etag"]
    api.client.delete(f"/api/v1/backtests/{backtest_id}", headers=api.auth("alice"))
    assert api.get(path).status_code == 404


def test_a_conditional_detail_answers_who_may_read_it_before_whether_it_changed(
    api: Api,
) -> None:
    """The caller and the version are read in one statement: a kept detail or a tag
    still answers 401, 403 and 404 as an unconditional read does, and the throttle
    still counts a wrong key."""
    backtest_id = _record(api)
    path = f"/api/v1/backtests/{backtest_id}"
    tag = api.get(path).headers["etag"]  # and kept by this process

    def read(who: dict[str, str], held: str | None = tag) -> int:
        headers = {**who, **({"If-None-Match": held} if held else {})}
        return int(api.client.get(path, headers=headers).status_code)

    assert read(api.auth("carol")) == 304  # an auditor reads anyone's
    assert read(api.auth("carol"), None) == 200
    for held in (tag, "*", None):  # another user: not found, held or kept
        assert read(api.auth("bob"), held) == 404
    assert read(api.auth("dave")) == 403  # an admin reads no backtests
    assert read({"Authorization": "Bearer not-a-key"}) == 401
    assert read({}) == 401
    assert api.get(f"/api/v1/backtests/{uuid.uuid4()}").status_code == 404
    # a revoked key is refused whatever it holds
    with write_transaction(api.engine) as conn:
        revoke_user(conn, "carol")
    assert read(api.auth("carol")) == 401


def test_significance_and_compare_are_revalidated(api: Api) -> None:
    one, two = _record(api, seed=1), _record(api, seed=2)
    path = f"/api/v1/backtests/{one}/significance"
    first = api.get(path, samples=200)
    tag = first.headers["etag"]
    assert first.status_code == 200 and _again(api, path, tag, samples=200).status_code == 304
    assert _again(api, path, tag, samples=300).status_code == 200  # other inputs
    _record(api, seed=3)  # a new trial of the same symbol and strategy: a new DSR
    moved = _again(api, path, tag, samples=200)
    assert moved.status_code == 200 and moved.json()["dsr"]["trials"] == 3
    ids = f"{one},{two}"
    compared = api.get("/api/v1/backtests/compare", ids=ids)
    mark = compared.headers["etag"]
    with series_reads() as seen:
        assert _again(api, "/api/v1/backtests/compare", mark, ids=ids).status_code == 304
    assert seen == []
    shorter = _again(api, "/api/v1/backtests/compare", mark, ids=ids, points=40)
    assert shorter.status_code == 200 and shorter.headers["etag"] != mark


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_a_sweep_export_is_revalidated_until_the_sweep_changes(api: Api, form: str) -> None:
    ids = [_record(api, "grid", seed=n) for n in range(3)]
    path = f"/api/v1/experiments/grid/backtests.{form}"
    tag = api.get(path).headers["etag"]
    assert _again(api, path, tag).status_code == 304
    assert _again(api, path, tag, sort="-sharpe").status_code == 200  # other terms
    changes = [
        lambda: _record(api, "grid", seed=9),  # a new variant
        lambda: api.client.post(f"/api/v1/backtests/{ids[0]}/exclusion",
                                json={"reason": "a test"}, headers=api.auth("alice")),
        lambda: api.client.delete(f"/api/v1/backtests/{ids[1]}", headers=api.auth("alice")),
    ]  # fmt: skip
    for change in changes:
        change()
        moved = _again(api, path, tag)
        assert moved.status_code == 200 and moved.headers["etag"] != tag
        tag = moved.headers["etag"]
        assert _again(api, path, tag).status_code == 304
    _record(api, "other", seed=5)  # another experiment's change is not this one's
    assert _again(api, path, tag).status_code == 304


def sweep_reads() -> AbstractContextManager[list[str]]:
    """The statements that read a sweep's rows (their stored cells) while the block
    runs."""
    return statements_sent(lambda statement: "sweep_row" in statement)


def _owner_of(api: Api, backtest_id: str) -> str:
    with api.engine.connect() as conn:
        statement = sa.select(backtests.c.owner_id).where(backtests.c.backtest_id == backtest_id)
        return str(conn.execute(statement).scalar_one())


def _rendered(api: Api, owner: str | None, form: str, **terms: Any) -> bytes:
    """A sweep export rendered with no cache in the way, as the API's reader sees it."""
    query = search_query(owner, sort=terms.pop("sort", "created_at"), experiment="grid")
    return b"".join(stream_sweep(api.engine, query, form, **terms))  # type: ignore[arg-type]


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_a_sweep_export_is_kept_and_never_served_stale(api: Api, form: str) -> None:
    ids = [_record(api, "grid", seed=n) for n in range(3)]
    owner = _owner_of(api, ids[0])
    path = f"/api/v1/experiments/grid/backtests.{form}"
    with sweep_reads() as seen:
        first = api.get(path)
    assert first.status_code == 200 and seen != []  # rendered from the rows once
    with sweep_reads() as seen:
        kept = api.get(path)
    assert seen == [] and kept.content == first.content  # then kept by the process
    for name in ("etag", "cache-control", "content-type", "content-disposition"):
        assert kept.headers.get(name) == first.headers.get(name), name
    assert kept.content == _rendered(api, owner, form)
    # other terms, another reader: each its own answer, rendered
    for who, terms in (("alice", {"sort": "-sharpe"}), ("alice", {"limit": 2}),
                       ("carol", {})):  # fmt: skip
        with sweep_reads() as seen:
            other = api.get(path, who, **terms)
        assert other.status_code == 200 and seen != [], (who, terms)
        assert other.content == _rendered(api, None if who == "carol" else owner, form,
                                          **terms)  # fmt: skip
    # bob has no experiment of that name, whatever alice's reads left kept
    assert api.get(path, "bob").status_code == 404
    # every change of the sweep is read again, under a new tag, as rendered afresh
    tag = first.headers["etag"]
    changes = [
        lambda: _record(api, "grid", seed=9),  # a new variant
        lambda: api.client.post(f"/api/v1/backtests/{ids[0]}/exclusion",
                                json={"reason": "a test"}, headers=api.auth("alice")),
        lambda: api.client.delete(f"/api/v1/backtests/{ids[1]}", headers=api.auth("alice")),
    ]  # fmt: skip
    for change in changes:
        change()
        with sweep_reads() as seen:
            moved = api.get(path)
        assert seen != [] and moved.headers["etag"] != tag
        assert moved.content == _rendered(api, owner, form)
        tag = moved.headers["etag"]
    assert ids[1].encode() not in moved.content and len(ids) == 3  # the deleted one's gone


def test_an_export_takes_a_limit_and_may_keep_no_row(api: Api) -> None:
    for n in range(5):
        _record(api, "grid", seed=n)
    everything = api.get("/api/v1/experiments/grid/backtests.csv", sort="-sharpe").text
    top = api.get("/api/v1/experiments/grid/backtests.csv", sort="-sharpe", limit=2).text
    rows = everything.splitlines()
    assert top.splitlines() == rows[:3]  # the header and the best two
    import io

    import pandas as pd

    parquet = api.get("/api/v1/experiments/grid/backtests.parquet", sort="-sharpe", limit=2)
    assert len(pd.read_parquet(io.BytesIO(parquet.content))) == 2
    # a filter that keeps nothing: a table of no rows, in either form
    nothing = api.get("/api/v1/experiments/grid/backtests.parquet", where="sharpe > 1000")
    assert nothing.status_code == 200, nothing.text
    empty = pd.read_parquet(io.BytesIO(nothing.content))
    assert len(empty) == 0 and "sharpe" in empty.columns
    header = api.get("/api/v1/experiments/grid/backtests.csv", where="sharpe > 1000").text
    assert len(header.splitlines()) == 1 and rows[0].startswith(header.strip())
    for bad in ("0", "-1", "x"):
        refused = api.get("/api/v1/experiments/grid/backtests.csv", limit=bad)
        assert refused.status_code == 400, refused.text


def test_the_openapi_document_names_exactly_the_reads_that_answer_304(api: Api) -> None:
    """Every GET of the API is tried with the tag it gave: those that answer 304 are
    the operations the document gives a 304, an ETag and an If-None-Match."""
    one, two = _record(api, "grid", seed=1), _record(api, "grid", seed=2)
    document = api.client.get("/schema/openapi.json").json()
    filled = {"{backtest_id}": one, "{name}": "grid"}
    queries = {"compareBacktests": {"ids": f"{one},{two}"}}
    documented, answered = set(), set()
    for template, item in document["paths"].items():
        operation = item.get("get")
        if not template.startswith("/api/") or operation is None:
            continue
        name = operation["operationId"]
        if "304" in operation["responses"]:
            headers = operation["responses"]["304"]["headers"]
            assert set(headers) == {"ETag", "Cache-Control"}, name
            assert set(operation["responses"]["200"]["headers"]) == {"ETag", "Cache-Control"}
            assert any(p["name"] == "If-None-Match" for p in operation["parameters"]), name
            documented.add(name)
        path = template
        for hole, value in filled.items():
            path = path.replace(hole, value)
        if "{" in path:  # of a resource this test makes none of (an analysis)
            assert name not in documented
            continue
        params = queries.get(name, {})
        for who in ("alice", "carol", "dave"):  # a user's, an auditor's, an admin's
            first = api.get(path, who, **params)
            if first.status_code != 403:
                break
        assert first.status_code == 200, (name, first.status_code)
        if "etag" in first.headers:
            held = {**api.auth(who), "If-None-Match": first.headers["etag"]}
            if api.client.get(path, params=params, headers=held).status_code == 304:
                answered.add(name)
    assert documented == answered
    assert len(answered) == 9


def test_after_a_rebuild_every_tag_still_names_the_same_bytes(api: Api) -> None:
    """A rebuild projects every read model again from the log and moves no stream: the
    tags a client holds stay valid, and the answers they name (a kept detail, a fresh
    rendering, a sweep export) are the bytes rendered after it."""
    one, _ = _record(api, "grid", seed=1), _record(api, "grid", seed=2)
    detail, sweep = f"/api/v1/backtests/{one}", "/api/v1/experiments/grid/backtests.csv"
    before = {path: api.get(path) for path in (detail, sweep, f"{detail}/daily.csv")}
    rebuilt = rebuild(api.engine)
    assert rebuilt.ok and rebuilt.replayed == 2
    for path, first in before.items():
        kept = _again(api, path, first.headers["etag"])
        assert kept.status_code == 304, path
        again = api.get(path)
        assert again.headers["etag"] == first.headers["etag"] and again.content == first.content
    # what this process kept equals what is rendered from the rebuilt models
    assert documents.read_document(api.engine, one, "detail").body == before[detail].content
    owner = _owner_of(api, one)
    assert _rendered(api, owner, "csv") == before[sweep].content
