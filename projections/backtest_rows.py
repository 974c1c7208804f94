"""What one backtest's events make of the read-model tables, as plain rows.

Pure functions of the stored events: the projector inserts these rows, and
``projections verify`` compares them with what is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, overload

import msgspec
from msgspec import UNSET

from domain import bars
from domain.conventions import conventions
from domain.events import BacktestDeleted, BacktestExcludedFromTrials, BacktestRecorded, Event
from domain.metrics import compute_metrics
from domain.provenance import provenance_document
from domain.relative import NO_BENCHMARK, aligned, paired, relative_metrics
from domain.results import given
from domain.series import derive
from domain.submission_warnings import submission_warnings
from infrastructure.event_store import StoredEvent
from projections.csv_export import COLUMNS, DAILY_EXTRA_COLUMNS, write_csv
from projections.documents import DOCUMENT_COLUMNS, compress_part, document_rows
from projections.experiments import sweep_cells
from projections.series_parts import CODECS, SeriesKind, encode_parts
from projections.views import summary_of

Row = dict[str, Any]


class Mapped(Sequence[Any]):
    """``fn`` of each item of ``source``, computed when read: a column that costs
    nothing held."""

    def __init__(self, source: Sequence[Any], fn: Callable[[Any], Any]) -> None:
        self.source, self.fn = source, fn

    def __len__(self) -> int:
        return len(self.source)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(map(self.fn, self.source[index]))
        return self.fn(self.source[index])

    def __iter__(self) -> Iterator[Any]:
        return map(self.fn, self.source)


def _given(name: str) -> Callable[[Any], Any]:
    """An optional field's value, ``None`` when absent (``given``)."""
    return lambda row: given(getattr(row, name))


TRADE_FIELDS = ("side", "entry_time", "exit_time", "entry_price", "exit_price", "quantity", "pnl")


@dataclass(frozen=True)
class Columns:
    """Rows of one table held column by column, most columns read from the
    submission's own values as they are used (``Mapped``): a million days held as a
    dict each cost twenty times their JSON."""

    values: dict[str, Sequence[Any]]

    @classmethod
    def of_row(cls, row: Row) -> Columns:
        return cls({name: [value] for name, value in row.items()})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.values)

    def tuples(self) -> Iterator[tuple[Any, ...]]:
        return zip(*self.values.values(), strict=True)

    def dicts(self) -> Iterator[Row]:
        return _dicts(self.names, self.tuples())


@dataclass(frozen=True)
class Parts:
    """Stored parts of one backtest (``backtest_series`` or ``backtest_documents``
    rows), rendered part after part each time they are iterated (by the COPY that
    stores them, or by verify): never held."""

    render: Callable[[], Iterator[tuple[Any, ...]]]
    names: tuple[str, ...] = DOCUMENT_COLUMNS

    def tuples(self) -> Iterator[tuple[Any, ...]]:
        return self.render()

    def dicts(self) -> Iterator[Row]:
        return _dicts(self.names, self.tuples())


def _dicts(names: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> Iterator[Row]:
    """Rows as mappings of the table's column names (what verify compares)."""
    return (dict(zip(names, row, strict=True)) for row in rows)


TableRows = Columns | Parts


@dataclass
class BacktestRows:
    """The rows of one backtest in every read-model table."""

    summary: Row
    detail: Row
    series: Parts
    documents: Parts

    def per_table(self) -> tuple[TableRows, ...]:
        """The rows of each table of ``ReadModels.tables()``, in that order."""
        return (Columns.of_row(self.summary), Columns.of_row(self.detail), self.series,
                self.documents)  # fmt: skip


def recorded_rows(stored: StoredEvent, event: BacktestRecorded) -> BacktestRows:
    """The rows a BacktestRecorded event produces."""
    sub = event.submission
    days = sub.daily_results
    capital = sub.initial_capital or 0.0
    derived = derive(sub)
    rows_and_benchmark = aligned(sub, derived)
    relative = (
        NO_BENCHMARK
        if rows_and_benchmark is None
        else relative_metrics(*rows_and_benchmark, sub.periods)
    )
    metrics = msgspec.structs.asdict(compute_metrics(sub, derived, relative))
    optional = [
        name
        for name in ("return", *DAILY_EXTRA_COLUMNS)  # given on any day (counted in C)
        if list(map(attrgetter(DAILY_FIELDS.get(name, name)), days)).count(UNSET) < len(days)
    ]
    extras = [name for name in optional if name != "return"]
    bid = event.backtest_id
    provenance = provenance_document(sub.provenance)
    summary = {
        "backtest_id": bid,
        "owner_id": event.owner_id,
        "symbol": sub.symbol,
        "interval": sub.interval,
        "strategy": sub.strategy,
        "test_mode": sub.test_mode,
        "market_type": sub.market_type,
        "start_date": day_of(days[0].at),
        "end_date": day_of(days[-1].at),
        "created_at": stored.recorded_at,
        "position": stored.position,
        "deleted_position": None,
        "deleted_at": None,
        **metrics,
        "experiment": sub.experiment_name,
        "parameters": sub.parameters,
        "excluded_reason": None,
        "provenance": provenance,
    }
    detail = {
        "backtest_id": bid,
        "parameters": msgspec.json.encode(sub.parameters).decode(),
        "initial_capital": capital,
        "periods_per_year": sub.periods_per_year,
        "reported_metrics": None
        if sub.metrics is UNSET
        else msgspec.json.encode(sub.metrics).decode(),
        "sanitized_fields": msgspec.json.encode(stored.meta().sanitized_fields).decode(),
        "daily_extra_columns": ",".join(extras),
        "monthly_derived": sub.monthly_results is UNSET,
        "bar_size": bars.bar_size(bars.spacing([day.at for day in days])),
        "warnings": msgspec.json.encode(submission_warnings(sub)).decode(),
        "conventions": msgspec.json.encode(
            conventions(sub, derived.metric_returns(), paired(rows_and_benchmark))
        ).decode(),
        "provenance": None if provenance is None else msgspec.json.encode(provenance).decode(),
        "relative": msgspec.json.encode(relative).decode(),
    }
    # What the client gave, column by column: the returns only if it gave any (else
    # they are derived from equity as the parts are read, like the drawdowns).
    key = "time" if days[0].time is not UNSET else "date"
    daily = {
        key: Mapped(days, attrgetter(key)),
        "equity": Mapped(days, attrgetter("equity")),
        **{name: Mapped(days, _given(DAILY_FIELDS.get(name, name))) for name in optional},
    }
    months = derived.months
    monthly = {
        "month": Mapped(months, attrgetter("month")),
        "return": Mapped(months, attrgetter("return_")),
        "start_equity": Mapped(months, _given("start_equity")),
        "end_equity": Mapped(months, _given("end_equity")),
    }
    deals = sub.trades
    trades = Columns({
        "trade_no": range(1, len(deals) + 1),
        **{name: Mapped(deals, attrgetter(name)) for name in TRADE_FIELDS},
        "return": Mapped(deals, _given("return_")),
        "fees": Mapped(deals, _given("fees")),
    })  # fmt: skip
    item = summary_of(summary)
    summary["list_item"] = msgspec.json.encode(item).decode()
    summary["sweep_row"], summary["sweep_params"] = sweep_cells(summary, sub.parameters)

    def series() -> Iterator[tuple[Any, ...]]:
        yield from series_rows(bid, "daily", daily)
        yield from series_rows(bid, "monthly", monthly)
        stored_trades = {name: trades.values[name] for name in CODECS["trades"]}
        yield from series_rows(bid, "trades", stored_trades)

    def documents() -> Iterator[tuple[Any, ...]]:
        parts = write_csv(COLUMNS["trades"], [trades.values[name] for name in COLUMNS["trades"]])
        yield from document_rows(bid, "trades", map(compress_part, parts))

    return BacktestRows(summary, detail, Parts(series), Parts(documents))


# The daily columns whose field in DailyResult is named otherwise.
DAILY_FIELDS = {"return": "return_"}


def series_rows(
    backtest_id: str, kind: SeriesKind, columns: Mapping[str, Sequence[Any]]
) -> Iterator[tuple[str, str, int, bytes]]:
    """The ``backtest_series`` rows of one kind of a backtest's rows."""
    for number, body in enumerate(encode_parts(kind, columns)):
        yield backtest_id, kind, number, body


def later_values(stored: StoredEvent, event: Event) -> Row:
    """The summary columns an event after the first sets: a deletion's position and
    time, an exclusion's reason."""
    if isinstance(event, BacktestDeleted):
        return {"deleted_position": stored.position, "deleted_at": stored.recorded_at}
    if isinstance(event, BacktestExcludedFromTrials):
        return {"excluded_reason": event.reason}
    raise TypeError(f"{type(event).__name__} starts a stream")


def day_of(stamp: dt.date) -> dt.date:
    """The date of a row's key: its own, or its UTC time's."""
    return stamp.date() if isinstance(stamp, dt.datetime) else stamp
