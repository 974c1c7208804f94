"""CSV exports from the read models, read back with pandas (both stores)."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
import sqlalchemy as sa

from domain.errors import BacktestNotFound
from projections import queries
from projections.documents import stream_document
from tests.factories import backtest_document, make_user, record


def download(engine: sa.Engine, backtest_id: str, kind: str) -> bytes:
    return b"".join(stream_document(engine, backtest_id, kind))  # type: ignore[arg-type]


def test_daily_csv_round_trips_through_pandas(engine: sa.Engine) -> None:
    alice = make_user(engine)
    doc = backtest_document(days=50)
    doc["daily_results"][10]["equity"] = float("inf")
    for i, day in enumerate(doc["daily_results"]):
        day["cash"] = 100.0 + i
    backtest_id = record(engine, alice, doc).backtest_id
    raw = download(engine, backtest_id, "daily")
    assert raw.startswith(b"date,equity,return,drawdown,cash\r\n")
    assert raw.count(b"\r\n") == 51 and raw.endswith(b"\r\n")
    frame = pd.read_csv(io.BytesIO(raw))
    assert list(frame.columns) == ["date", "equity", "return", "drawdown", "cash"]
    assert math.isnan(frame["equity"][10])
    expected = [d["equity"] for d in doc["daily_results"]]
    assert [e for i, e in enumerate(frame["equity"]) if i != 10] == [
        e for i, e in enumerate(expected) if i != 10
    ]
    assert frame["return"][0] == pytest.approx(expected[0] / 10_000 - 1, rel=1e-15)
    assert frame["drawdown"].max() == 0.0


def test_daily_csv_has_no_optional_columns_when_none_were_sent(engine: sa.Engine) -> None:
    alice = make_user(engine)
    backtest_id = record(engine, alice, backtest_document(days=3)).backtest_id
    assert download(engine, backtest_id, "daily").startswith(
        b"date,equity,return,drawdown\r\n2024-01-01,"
    )


def test_trades_csv_matches_the_detail(engine: sa.Engine) -> None:
    alice = make_user(engine)
    doc = backtest_document(trades=25)
    doc["trades"][3]["fees"] = float("nan")
    backtest_id = record(engine, alice, doc).backtest_id
    raw = download(engine, backtest_id, "trades")
    lines = raw.split(b"\r\n")
    assert lines[0] == (
        b"trade_no,side,entry_time,exit_time,entry_price,exit_price,quantity,pnl,return,fees"
    )
    assert lines[1].startswith(b"1,long,2024-01-01T09:30:00Z,2024-01-01T12:30:00Z,100.0,101.5,")
    frame = pd.read_csv(io.BytesIO(raw))
    assert list(frame["trade_no"]) == list(range(1, 26))
    assert list(frame["pnl"]) == [t["pnl"] for t in doc["trades"]]
    assert math.isnan(frame["fees"][3]) and frame["fees"][4] == 0.1


def test_monthly_csv_is_derived_when_absent(engine: sa.Engine) -> None:
    alice = make_user(engine)
    doc = backtest_document(days=60)
    backtest_id = record(engine, alice, doc).backtest_id
    frame = pd.read_csv(io.BytesIO(download(engine, backtest_id, "monthly")))
    assert list(frame["month"]) == ["2024-01", "2024-02"]
    january_end = doc["daily_results"][30]["equity"]
    assert frame["end_equity"][0] == january_end
    assert frame["return"][0] == pytest.approx(january_end / 10_000 - 1, rel=1e-12)
    assert frame["start_equity"][1] == january_end
    with engine.connect() as conn:
        detail = queries.get_detail(conn, backtest_id, alice.user_id)
    assert list(frame["return"]) == [m.return_ for m in detail.monthly_results]


def test_exporting_a_deleted_or_foreign_backtest_is_not_found(engine: sa.Engine) -> None:
    alice, bob = make_user(engine, "alice"), make_user(engine, "bob")
    backtest_id = record(engine, alice, backtest_document()).backtest_id
    with engine.connect() as conn, pytest.raises(BacktestNotFound):
        queries.check_visible(conn, backtest_id, bob.user_id)
    with pytest.raises(BacktestNotFound):
        download(engine, "no-such-id", "daily")
