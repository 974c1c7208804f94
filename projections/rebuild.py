"""Rebuilding the read models from the log, and verifying that they match it.

A rebuild runs in one transaction: readers keep seeing the old read models until it
commits (MVCC on PostgreSQL, WAL snapshots on SQLite), and appends wait on the
read-model lock, then project themselves into the rebuilt tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from domain.events import BacktestDeleted, BacktestRecorded
from infrastructure.database import as_utc, write_transaction
from infrastructure.event_store import count_events, load_stream, scan_log, stream_ids
from infrastructure.tables import (
    READ_MODEL_TABLES,
    backtest_daily,
    backtest_details,
    backtest_monthly,
    backtest_trades,
    backtests,
)
from projections.backtest_rows import BacktestRows, Row, deleted_values, recorded_rows
from projections.projector import project

Progress = Callable[[int], object]


def rebuild(engine: sa.Engine, progress: Progress | None = None) -> int:
    """Replay the whole log through the projector into empty read models; return the
    number of events replayed. ``progress`` is called with each batch's size."""
    replayed = 0
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(table.name for table in READ_MODEL_TABLES)
            conn.execute(sa.text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
        for table in reversed(READ_MODEL_TABLES):
            conn.execute(table.delete())
        for stored in scan_log(conn):
            project(conn, stored)
            replayed += 1
            if progress and replayed % 100 == 0:
                progress(100)
        if progress:
            progress(replayed % 100)
    return replayed


def total_events(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return count_events(conn)


@dataclass(frozen=True)
class Mismatch:
    backtest_id: str
    table: str
    detail: str


@dataclass
class VerifyReport:
    backtests: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "backtests": self.backtests,
            "mismatches": [asdict(m) for m in self.mismatches],
        }


def expected_rows(conn: sa.Connection, stream_id: str) -> BacktestRows | None:
    """What the projector makes of one stream's events."""
    rows: BacktestRows | None = None
    for stored in load_stream(conn, stream_id):
        event = stored.event()
        if isinstance(event, BacktestRecorded):
            rows = recorded_rows(stored, event)
        elif isinstance(event, BacktestDeleted) and rows is not None:
            rows.summary.update(deleted_values(stored))
    return rows


def _normalised(row: Any) -> Row:
    return {
        key: as_utc(value) if hasattr(value, "tzinfo") and hasattr(value, "hour") else value
        for key, value in dict(row).items()
    }


def _stored(conn: sa.Connection, table: sa.Table, backtest_id: str) -> list[Row]:
    key = [c for c in table.primary_key.columns if c.name != "backtest_id"]
    query = sa.select(table).where(table.c.backtest_id == backtest_id).order_by(*key)
    return [_normalised(row) for row in conn.execute(query).mappings()]


def _compare(
    report: VerifyReport, backtest_id: str, table: sa.Table, want: list[Row], got: list[Row]
) -> None:
    if len(want) != len(got):
        detail = f"{len(got)} rows stored, {len(want)} expected from the log"
        report.mismatches.append(Mismatch(backtest_id, str(table.name), detail))
        return
    for index, (w, g) in enumerate(zip(want, got, strict=True)):
        diff = sorted(k for k in w if w[k] != g.get(k))
        if diff:
            detail = f"row {index}: {', '.join(diff)} differ from the log"
            report.mismatches.append(Mismatch(backtest_id, str(table.name), detail))
            return


def verify(engine: sa.Engine) -> VerifyReport:
    """Compare every stored read-model row with what the log says it should be."""
    report = VerifyReport()
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            ids = stream_ids(conn)
            known = set(ids)
            for backtest_id in _stored_ids(conn):
                if backtest_id not in known:
                    report.mismatches.append(
                        Mismatch(backtest_id, "backtests", "read model row with no event stream")
                    )
            for backtest_id in ids:
                report.backtests += 1
                _verify_one(conn, report, backtest_id)
    return report


def _stored_ids(conn: sa.Connection) -> Iterator[str]:
    yield from conn.execute(sa.select(backtests.c.backtest_id)).scalars()


def _verify_one(conn: sa.Connection, report: VerifyReport, backtest_id: str) -> None:
    want = expected_rows(conn, backtest_id)
    if want is None:
        return
    _compare(report, backtest_id, backtests, [want.summary], _stored(conn, backtests, backtest_id))
    for table, rows in (
        (backtest_details, [want.detail]),
        (backtest_daily, want.daily),
        (backtest_monthly, want.monthly),
        (backtest_trades, want.trades),
    ):
        _compare(report, backtest_id, table, rows, _stored(conn, table, backtest_id))
