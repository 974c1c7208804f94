"""Rebuilding the read models from the log, and verifying that they match it.

A rebuild projects the whole log into fresh tables while the service goes on
serving and taking writes, then, holding the read-model lock only for the last few
events, swaps the fresh tables in within one transaction: readers see the old read
models or the new ones, never an empty or half-built list, and no event appended
during the rebuild is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from domain.events import BacktestRecorded, UnreadableEvent
from domain.metrics import METRIC_NAMES
from infrastructure import table_swap
from infrastructure.database import as_utc, bulk_insert, write_transaction
from infrastructure.event_store import (
    StoredEvent,
    count_events,
    events_from_frontier,
    feed_frontier,
    import_events,
    load_stream,
    read_feed,
    stream_ids,
)
from infrastructure.tables import (
    LIVE,
    ReadModels,
    backtests,
    shadow_read_models,
    significance_reports,
)
from projections.backtest_rows import BacktestRows, Row, later_values, recorded_rows
from projections.projector import Projection

Progress = Callable[[int], object]
BATCH = 500


class LogNotEmpty(Exception):
    """Replaying a file needs an empty event log."""


@dataclass(frozen=True)
class Skipped:
    """A stream a rebuild or verify could not project: the first event that failed."""

    position: int
    stream_id: str
    error: str


class StreamNotProjected(Exception):
    """This version cannot read or project one of the stream's events."""

    def __init__(self, skipped: Skipped) -> None:
        super().__init__(f"stream {skipped.stream_id} at position {skipped.position}")
        self.skipped = skipped


def _skipped(stored: StoredEvent, exc: Exception) -> Skipped:
    reason = exc.reason if isinstance(exc, UnreadableEvent) else f"{type(exc).__name__}: {exc}"
    return Skipped(stored.position, stored.stream_id, reason)


@dataclass
class RebuildReport:
    replayed: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.skipped


def rebuild(engine: sa.Engine, progress: Progress | None = None) -> RebuildReport:
    """Replay the whole log into fresh read models and swap them in. ``progress`` is
    called with each batch's size. A stream with an event this version cannot project
    is skipped (its read models stay as they were) and named in the report; the rest
    of the log is rebuilt all the same."""
    fresh = shadow_read_models()
    with write_transaction(engine) as conn:
        table_swap.drop_if_present(conn, fresh)
        table_swap.create(conn, fresh)
    skipped: dict[str, Skipped] = {}
    replayed, cursor = 0, 0
    while True:
        with write_transaction(engine) as conn:
            # taken before reading: everything the read can miss is at or above it
            frontier = feed_frontier(conn)
            batch = read_feed(conn, cursor, BATCH)
            _project_all(conn, batch, fresh, skipped)
        replayed += len(batch)
        if progress and batch:
            progress(len(batch))
        if not batch:
            break
        cursor = batch[-1].position
    with write_transaction(engine) as conn:
        table_swap.lock_for_swap(conn, LIVE)
        late = _project_all(conn, events_from_frontier(conn, frontier, cursor), fresh, skipped)
        _keep_as_they_were(conn, list(skipped), fresh)
        table_swap.swap_in(conn, fresh, LIVE)
        # computed from the old read models: a fix the rebuild brings must show in them
        conn.execute(significance_reports.delete())
    with write_transaction(engine) as conn:  # after the swap: the lock is not held for it
        table_swap.analyze(conn, LIVE)
    if progress and late:
        progress(late)
    return RebuildReport(replayed + late, sorted(skipped.values(), key=lambda s: s.position))


def _project_all(
    conn: sa.Connection,
    stored: Iterable[StoredEvent],
    into: ReadModels,
    skipped: dict[str, Skipped],
) -> int:
    projection = Projection(into)
    count = 0
    for event in stored:
        count += 1
        if event.stream_id in skipped:
            continue
        try:
            projection.add(conn, event)
        except sa.exc.SQLAlchemyError:
            raise  # the database's fault, not the stream's: the rebuild stops
        except Exception as exc:  # one stream's event must not stop the whole log's rebuild
            skipped[event.stream_id] = _skipped(event, exc)
            projection.pending.pop(event.stream_id, None)
    projection.flush(conn)
    return count


def _keep_as_they_were(conn: sa.Connection, stream_ids: list[str], fresh: ReadModels) -> None:
    """The live read-model rows of skipped streams, copied into the fresh tables: what
    an earlier version projected stays served until a release can read the stream."""
    if not stream_ids:
        return
    for live, new in zip(LIVE.tables(), fresh.tables(), strict=True):
        conn.execute(new.delete().where(new.c.backtest_id.in_(stream_ids)))
        rows = sa.select(live).where(live.c.backtest_id.in_(stream_ids))
        conn.execute(new.insert().from_select(list(live.columns.keys()), rows))


def rebuild_from_log(
    engine: sa.Engine, events: Iterable[StoredEvent], progress: Progress | None = None
) -> RebuildReport:
    """Load an exported log into an empty database, then rebuild its read models."""
    with write_transaction(engine) as conn:
        if count_events(conn):
            raise LogNotEmpty("replaying a log file needs a database with an empty event log")
        import_events(conn, events)
    return rebuild(engine, progress)


def fill_missing_documents(engine: sa.Engine) -> int:
    """Project the stored documents of backtests recorded before their kinds existed
        (the JSON list item: revision 0004; the rows of a sweep's table: 0006; the stored
        series and compressed trades.csv: 0010, which dropped the row-per-day tables; the
        bar size, warnings and conventions of the details: 0011; with the warnings, the
    metrics: 0013; the figures against the benchmark: 0016) from the log; return how many
        backtests needed them."""
    series, documents, details = LIVE.series, LIVE.documents, LIVE.details
    b = backtests.c
    has_series = (
        sa.select(series.c.backtest_id).where(series.c.backtest_id == b.backtest_id).exists()
    )
    lacks_details = (
        sa.select(details.c.backtest_id)
        .where(
            details.c.backtest_id == b.backtest_id,
            sa.or_(details.c.warnings.is_(None), details.c.relative.is_(None)),
        )
        .exists()
    )
    with write_transaction(engine) as conn:
        missing = conn.execute(
            sa.select(b.backtest_id, has_series).where(
                sa.or_(b.list_item.is_(None), b.sweep_row.is_(None), ~has_series, lacks_details)
            )
        ).all()
        filled = 0
        for backtest_id, with_series in missing:
            try:
                want = expected_rows(conn, backtest_id)
            except StreamNotProjected:
                continue  # `projections verify` names it; the rest are filled
            if want is None:
                continue
            conn.execute(
                backtests.update()
                .where(b.backtest_id == backtest_id)
                .values({name: want.summary[name] for name in STORED_IN_SUMMARY})
            )
            conn.execute(
                details.update()
                .where(details.c.backtest_id == backtest_id)
                .values({name: want.detail[name] for name in STORED_IN_DETAILS})
            )
            if not with_series:
                for table, rows in ((series, want.series), (documents, want.documents)):
                    conn.execute(table.delete().where(table.c.backtest_id == backtest_id))
                    bulk_insert(conn, table, rows.names, rows.tuples())
            filled += 1
    return filled


STORED_IN_SUMMARY = ("list_item", "sweep_row", "sweep_params", *METRIC_NAMES)
STORED_IN_DETAILS = ("bar_size", "warnings", "conventions", "relative")


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
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.skipped

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "backtests": self.backtests,
            "mismatches": [asdict(m) for m in self.mismatches],
            "skipped": [asdict(s) for s in self.skipped],
        }


def expected_rows(conn: sa.Connection, stream_id: str) -> BacktestRows | None:
    """What the projector makes of one stream's events; ``StreamNotProjected`` naming
    the first event this version cannot read or project."""
    rows: BacktestRows | None = None
    for stored in load_stream(conn, stream_id):
        try:
            event = stored.event()
            if isinstance(event, BacktestRecorded):
                rows = recorded_rows(stored, event)
            elif rows is not None:
                rows.summary.update(later_values(stored, event))
        except sa.exc.SQLAlchemyError:
            raise  # the database's fault, not the stream's
        except Exception as exc:
            raise StreamNotProjected(_skipped(stored, exc)) from exc
    return rows


def _normalised(row: Any) -> Row:
    return {key: _comparable(value) for key, value in dict(row).items()}


def _comparable(value: Any) -> Any:
    """A stored value as the log's would compare with it: times in UTC, and numbers in
    a JSON column as floats (PostgreSQL's jsonb keeps a number's decimal value, so the
    float 1e300 reads back as the int 10**300: the same number, another Python type)."""
    if hasattr(value, "tzinfo") and hasattr(value, "hour"):
        return as_utc(value)
    if isinstance(value, dict | list):
        return _json_numbers_as_floats(value)
    return value


def _json_numbers_as_floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_numbers_as_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_numbers_as_floats(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # no double: compared as the integer it is
            return value
    return value


def _key(table: sa.Table) -> list[sa.Column[Any]]:
    """A backtest's rows in ``table`` are compared in the order of this key."""
    return [c for c in table.primary_key.columns if c.name != "backtest_id"]


def _stored(conn: sa.Connection, table: sa.Table, backtest_id: str) -> list[Row]:
    query = sa.select(table).where(table.c.backtest_id == backtest_id).order_by(*_key(table))
    return [_normalised(row) for row in conn.execute(query).mappings()]


def _in_key_order(table: sa.Table, rows: list[Row]) -> list[Row]:
    names = [c.name for c in _key(table)]
    return sorted(rows, key=lambda row: tuple(row[name] for name in names))


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
    try:
        want = expected_rows(conn, backtest_id)
    except StreamNotProjected as exc:  # named; the rest are verified
        report.skipped.append(exc.skipped)
        return
    if want is None:
        return
    for table, rows in zip(LIVE.tables(), want.per_table(), strict=True):
        stored = _stored(conn, table, backtest_id)
        expected = [_normalised(row) for row in rows.dicts()]
        _compare(report, backtest_id, table, _in_key_order(table, expected), stored)
