"""On PostgreSQL the CSV comes from COPY, formatted in SQL: it must give exactly the
bytes of the Python writer (the SQLite path), value for value, on awkward floats."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import sqlalchemy as sa

from projections.csv_export import export_columns, export_csv, ordered_rows, write_csv
from tests.factories import backtest_document, make_user, record

AWKWARD = [
    100.0, -0.0, 0.0, 0.1 + 0.2, 1 / 3, 1e-5, 1.5e-7, 5e-324, 2.2250738585072014e-308,
    1e14, 123456789012345.0, 1e15, 1234567890123456.0, 1234567890123456.8, 9.999e15,
    -1.2345e15, 1e16, 1.5e16, 1.7976931348623157e308, 12345.678, -42.0, 7e22, 0.0001,
    0.00012345, 999999999999999.9, 4503599627370497.0, 2.0**53, 2.109793591122499e16,
    -1.132878610615534e17, 9007199254740993.0 * 3,
]  # fmt: skip


def test_copy_gives_the_python_writers_bytes_on_awkward_values(pg_engine: sa.Engine) -> None:
    assert all(math.isfinite(v) for v in AWKWARD)
    alice = make_user(pg_engine)
    doc = backtest_document(days=len(AWKWARD), trades=len(AWKWARD))
    for i, value in enumerate(AWKWARD):
        doc["daily_results"][i]["equity"] = abs(value) + 1e-300 if i == 0 else value
        doc["daily_results"][i]["cash"] = value
        doc["trades"][i]["pnl"] = value
        doc["trades"][i]["fees"] = -value
    doc["trades"][0]["entry_time"] = "2024-01-01T09:30:00.123456+00:00"
    doc["trades"][1]["exit_time"] = "2024-01-01T23:59:59.000001-05:00"
    backtest_id = record(pg_engine, alice, doc).backtest_id
    for kind in ("daily", "monthly", "trades"):
        copied = b"".join(export_csv(pg_engine, backtest_id, kind))  # type: ignore[arg-type]
        with pg_engine.connect() as conn:
            columns = export_columns(conn, backtest_id, kind)  # type: ignore[arg-type]
            rows = ordered_rows(conn, backtest_id, kind, columns)  # type: ignore[arg-type]
            written = b"".join(write_csv(columns, rows))
        assert copied == written, (kind, _debug_first_difference(copied, written))
    trades = b"".join(export_csv(pg_engine, backtest_id, "trades")).decode().split("\r\n")
    assert ",2024-01-01T09:30:00.123456Z," in trades[1]
    assert repr(1234567890123456.0) in trades[13]
    entry = dt.datetime(2024, 1, 2, 4, 59, 59, 1, tzinfo=dt.UTC)
    assert entry.isoformat().replace("+00:00", "Z") in trades[2]


def _debug_first_difference(a: bytes, b: bytes) -> str:  # pragma: no cover - diagnostics
    for la, lb in zip(a.split(b"\r\n"), b.split(b"\r\n"), strict=False):
        if la != lb:
            return f"{la!r} != {lb!r}"
    return "same lines"


def test_copy_matches_repr_on_random_bit_patterns(pg_engine: sa.Engine) -> None:
    rng = np.random.default_rng(2026)
    bits = rng.integers(0, 2**63, size=3000, dtype=np.uint64) | (
        rng.integers(0, 2, size=3000, dtype=np.uint64) << np.uint64(63)
    )
    values = [v for v in bits.view(np.float64).tolist() if math.isfinite(v)]
    values += [float(x) for x in rng.integers(-(2**62), 2**62, size=500)]
    alice = make_user(pg_engine)
    doc = backtest_document(days=3, trades=len(values))
    for trade, value in zip(doc["trades"], values, strict=True):
        trade["pnl"] = value
    backtest_id = record(pg_engine, alice, doc).backtest_id
    lines = b"".join(export_csv(pg_engine, backtest_id, "trades")).split(b"\r\n")[1:-1]
    pnl = [line.split(b",")[7].decode() for line in lines]
    assert pnl == [repr(v) for v in values]
