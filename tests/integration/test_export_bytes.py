"""The bytes of a download on both stores, against lines built here from the recorded
values with Python's own ``repr`` and ``isoformat``: awkward floats, random bit
patterns, fractional and offset times."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import sqlalchemy as sa

from projections.documents import stream_document
from tests.factories import backtest_document, make_user, record

AWKWARD = [
    100.0, -0.0, 0.0, 0.1 + 0.2, 1 / 3, 1e-5, 1.5e-7, 5e-324, 2.2250738585072014e-308,
    1e14, 123456789012345.0, 1e15, 1234567890123456.0, 1234567890123456.8, 9.999e15,
    -1.2345e15, 1e16, 1.5e16, 1.7976931348623157e308, 12345.678, -42.0, 7e22, 0.0001,
    0.00012345, 999999999999999.9, 4503599627370497.0, 2.0**53, 2.109793591122499e16,
    -1.132878610615534e17, 9007199254740993.0 * 3,
]  # fmt: skip


def _instant(text: str) -> str:
    """The contract's form of an ISO time: UTC, ``T``, ``Z``, microseconds when any."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _trade_line(number: int, trade: dict[str, Any]) -> str:
    cells = [str(number), trade["side"], _instant(trade["entry_time"]),
             _instant(trade["exit_time"])]  # fmt: skip
    cells += [repr(float(trade[k])) for k in ("entry_price", "exit_price", "quantity", "pnl")]
    return ",".join([*cells, "", repr(float(trade["fees"]))])


def _download(engine: sa.Engine, backtest_id: str, kind: str) -> list[str]:
    text = b"".join(stream_document(engine, backtest_id, kind)).decode()  # type: ignore[arg-type]
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    return text.split("\r\n")[:-1]


def test_awkward_values_download_as_their_repr(engine: sa.Engine) -> None:
    assert all(math.isfinite(v) for v in AWKWARD)
    alice = make_user(engine)
    doc = backtest_document(days=len(AWKWARD), trades=len(AWKWARD))
    for i, value in enumerate(AWKWARD):
        doc["daily_results"][i]["cash"] = value
        doc["trades"][i]["pnl"] = value
        doc["trades"][i]["fees"] = -value
    doc["trades"][0]["entry_time"] = "2024-01-01T09:30:00.123456+00:00"
    doc["trades"][1]["exit_time"] = "2024-01-01T23:59:59.000001-05:00"
    doc["trades"][2]["entry_time"] = "2024-01-01T09:30:00.5+00:00"
    backtest_id = record(engine, alice, doc).backtest_id

    trades = _download(engine, backtest_id, "trades")
    assert (
        trades[0]
        == "trade_no,side,entry_time,exit_time,entry_price,exit_price,quantity,pnl,return,fees"
    )
    assert trades[1:] == [_trade_line(i, t) for i, t in enumerate(doc["trades"], start=1)]
    assert trades[1].split(",")[2] == "2024-01-01T09:30:00.123456Z"
    assert trades[2].split(",")[3] == "2024-01-02T04:59:59.000001Z"
    assert trades[3].split(",")[2] == "2024-01-01T09:30:00.500000Z"

    daily = _download(engine, backtest_id, "daily")
    assert daily[0] == "date,equity,return,drawdown,cash"
    assert [line.split(",")[4] for line in daily[1:]] == [repr(v) for v in AWKWARD]
    assert [line.split(",")[0] for line in daily[1:]] == [d["date"] for d in doc["daily_results"]]
    monthly = _download(engine, backtest_id, "monthly")
    assert monthly[0] == "month,return,start_equity,end_equity"
    assert [line.split(",")[0] for line in monthly[1:]] == ["2024-01"]


def test_random_bit_patterns_download_as_their_repr(engine: sa.Engine) -> None:
    rng = np.random.default_rng(2026)
    bits = rng.integers(0, 2**63, size=3000, dtype=np.uint64) | (
        rng.integers(0, 2, size=3000, dtype=np.uint64) << np.uint64(63)
    )
    values = [v for v in bits.view(np.float64).tolist() if math.isfinite(v)]
    values += [float(x) for x in rng.integers(-(2**62), 2**62, size=500)]
    alice = make_user(engine)
    doc = backtest_document(days=3, trades=len(values))
    for trade, value in zip(doc["trades"], values, strict=True):
        trade["pnl"] = value
    backtest_id = record(engine, alice, doc).backtest_id
    lines = _download(engine, backtest_id, "trades")[1:]
    assert [line.split(",")[7] for line in lines] == [repr(v) for v in values]
