"""The list is served from the JSON the projector stored when the backtest was
recorded, the detail rendered from the stored series part after part. Both must be
byte for byte what encoding the read models' typed values gives (the path the CLI and
the report page read), on both stores, whole or streamed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from infrastructure.tables import backtest_series, backtests
from infrastructure.users import user_by_name
from projections import queries
from projections.documents import stream_document
from projections.queries import ListQuery
from projections.series_parts import PART_ROWS
from tests.api.conftest import Api
from tests.factories import backtest_document, record


def owner_id(api: Api, name: str) -> str:
    with api.engine.connect() as conn:
        return user_by_name(conn, name).user_id


def from_rows(api: Api, fetch: Any) -> bytes:
    with api.engine.connect() as conn:
        return msgspec.json.encode(fetch(conn))


def unusual(seed: int) -> dict[str, Any]:
    """A backtest with non-ASCII text, nulls, extra daily columns and a big parameter,
    so that its detail spans several stored parts, cut among multi-byte characters."""
    doc = backtest_document(days=900, trades=120, seed=seed, symbol="日経225", strategy="δ-hedge")
    doc["parameters"] = {"note": "€" * 40_000, "window": seed, "nested": {"a": [1, 2.5]}}
    doc["daily_results"][3]["equity"] = float("nan")
    for i, day in enumerate(doc["daily_results"]):
        day["cash"] = 1000.0 + i
    doc["trades"][0]["fees"] = None
    return doc


def test_the_detail_is_the_encoding_of_its_rows(api: Api) -> None:
    backtest_id = api.record(document=unusual(1)).json()["backtest_id"]
    served = api.get(f"/api/v1/backtests/{backtest_id}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    alice = owner_id(api, "alice")
    assert served.content == from_rows(
        api, lambda conn: queries.get_detail(conn, backtest_id, alice)
    )
    assert served.headers["content-length"] == str(len(served.content))
    assert served.json()["symbol"] == "日経225"
    assert served.json()["parameters"]["note"] == "€" * 40_000


def test_a_long_detail_streams_the_same_bytes(api: Api) -> None:
    doc = backtest_document(days=300, trades=PART_ROWS + 5, seed=4)
    with api.engine.connect() as conn:  # a body over the test service's limit
        alice_user = user_by_name(conn, "alice")
    backtest_id = record(api.engine, alice_user, doc).backtest_id
    served = api.get(f"/api/v1/backtests/{backtest_id}")
    assert served.status_code == 200
    assert "content-length" not in served.headers  # streamed, part by part
    alice = owner_id(api, "alice")
    assert served.content == from_rows(
        api, lambda conn: queries.get_detail(conn, backtest_id, alice)
    )
    trades = served.json()["trades"]
    assert len(trades) == PART_ROWS + 5
    assert [t["pnl"] for t in trades] == [t["pnl"] for t in doc["trades"]]
    download = api.get(f"/api/v1/backtests/{backtest_id}/trades.csv")
    assert download.status_code == 200
    assert download.content == b"".join(stream_document(api.engine, backtest_id, "trades"))
    assert download.content.count(b"\r\n") == PART_ROWS + 6


def test_a_backtest_longer_than_every_slice_and_batch_reads_back_whole(api: Api) -> None:
    """The projector stores the days in parts (``PART_ROWS``) and renders a slice at a
    time (``ENCODED_SLICE``, ``SLICE_ROWS``): what it stores must read back as if made
    at once — same detail bytes as from the typed values, every day in the CSV, the
    returns and drawdowns derived across a part's end as pandas derives them, a column
    empty in the first part and given in the last rendered alike."""
    import csv
    import io

    import pandas as pd

    from projections.csv_export import SLICE_ROWS
    from projections.views import ENCODED_SLICE

    days = PART_ROWS + 2 * max(SLICE_ROWS, ENCODED_SLICE) + 7
    doc = backtest_document(days=days, trades=ENCODED_SLICE + 3, seed=5, start=dt.date(1950, 1, 1))
    for day in doc["daily_results"][-3:]:
        day["position"] = 2.5  # given only in the last slice
    with api.engine.connect() as conn:  # a body over the test service's limit
        alice_user = user_by_name(conn, "alice")
    backtest_id = record(api.engine, alice_user, doc).backtest_id
    served = api.get(f"/api/v1/backtests/{backtest_id}")
    alice = owner_id(api, "alice")
    assert served.content == from_rows(
        api, lambda conn: queries.get_detail(conn, backtest_id, alice)
    )
    detail = served.json()
    assert [d["equity"] for d in detail["daily_results"]] == [
        d["equity"] for d in doc["daily_results"]
    ]
    assert len(detail["trades"]) == ENCODED_SLICE + 3
    daily = list(
        csv.DictReader(io.StringIO(api.get(f"/api/v1/backtests/{backtest_id}/daily.csv").text))
    )
    assert [row["date"] for row in daily] == [d["date"] for d in doc["daily_results"]]
    equity = pd.Series([d["equity"] for d in doc["daily_results"]])
    assert [float(row["equity"]) for row in daily] == equity.tolist()
    assert [row["position"] for row in daily[-4:]] == ["", "2.5", "2.5", "2.5"]
    returns = pd.concat([pd.Series([doc["initial_capital"]]), equity]).pct_change().iloc[1:]
    assert [float(row["return"]) for row in daily] == returns.tolist()
    assert [float(row["drawdown"]) for row in daily] == (equity / equity.cummax() - 1).tolist()
    with api.engine.connect() as conn:
        stored_parts = conn.execute(
            sa.select(sa.func.count()).where(
                backtest_series.c.backtest_id == backtest_id, backtest_series.c.kind == "daily"
            )
        ).scalar_one()
    assert stored_parts == 2


def test_the_list_is_the_encoding_of_its_rows_page_after_page(api: Api) -> None:
    for seed in range(7):
        api.record(document=backtest_document(seed=seed, symbol=["SPY", "QQQ"][seed % 2]))
    api.record("bob", backtest_document(seed=99))
    alice = owner_id(api, "alice")
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        served = api.get("/api/v1/backtests", **params)
        assert served.status_code == 200
        assert served.headers["content-type"] == "application/json"
        expected = from_rows(
            api,
            lambda conn, c=cursor: queries.list_backtests(
                conn, ListQuery(alice, limit=3, cursor=c)
            ),
        )
        assert served.content == expected
        pages += 1
        cursor = served.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 3  # 7 of alice's: 3 + 3 + 1
    spy = api.get("/api/v1/backtests", symbol="SPY")
    assert [item["symbol"] for item in spy.json()["items"]] == ["SPY"] * 4
    everyone = api.get("/api/v1/backtests", "carol")  # the auditor
    assert everyone.content == from_rows(
        api, lambda conn: queries.list_backtests(conn, ListQuery(None))
    )
    assert len(everyone.json()["items"]) == 8


def test_as_of_serves_the_same_documents_while_they_were_live(api: Api) -> None:
    kept = api.record(document=backtest_document(seed=1)).json()
    gone = api.record(document=backtest_document(seed=2)).json()
    assert api.client.delete(f"/api/v1/backtests/{gone['backtest_id']}",
                             headers=api.auth("alice")).status_code == 204  # fmt: skip
    then = f"position:{gone['position']}"
    alice = owner_id(api, "alice")
    as_of = queries.parse_as_of(then)
    listed = api.get("/api/v1/backtests", as_of=then)
    assert listed.content == from_rows(
        api, lambda conn: queries.list_backtests(conn, ListQuery(alice, as_of=as_of))
    )
    assert {item["backtest_id"] for item in listed.json()["items"]} == {
        kept["backtest_id"],
        gone["backtest_id"],
    }
    detail = api.get(f"/api/v1/backtests/{gone['backtest_id']}", as_of=then)
    assert detail.status_code == 200
    assert detail.content == from_rows(
        api, lambda conn: queries.get_detail(conn, gone["backtest_id"], alice, as_of)
    )
    assert api.get(f"/api/v1/backtests/{gone['backtest_id']}").status_code == 404
    before = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    assert api.get(f"/api/v1/backtests/{kept['backtest_id']}", as_of=before).status_code == 404


@pytest.mark.parametrize("kind", ["list item", "detail"])
def test_a_missing_document_is_a_503_naming_the_fix_not_a_short_200(api: Api, kind: str) -> None:
    backtest_id = api.record().json()["backtest_id"]
    with api.engine.begin() as conn:
        if kind == "list item":
            conn.execute(
                backtests.update()
                .where(backtests.c.backtest_id == backtest_id)
                .values(list_item=None)
            )
        else:  # the detail is rendered from the stored series
            conn.execute(
                backtest_series.delete().where(backtest_series.c.backtest_id == backtest_id)
            )
    path = "/api/v1/backtests" if kind == "list item" else f"/api/v1/backtests/{backtest_id}"
    served = api.get(path)
    assert served.status_code == 503
    assert "projections rebuild" in served.json()["detail"]
