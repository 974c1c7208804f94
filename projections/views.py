"""The shapes read models are served in (API responses and the CLI's ``--json``), and
how they are made from read-model rows: the stored ones a query reads, or the ones the
projector is about to store (it renders the JSON documents from the same shapes)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec

from domain.conventions import Conventions
from domain.metrics import METRIC_NAMES, Metrics
from domain.provenance import Provenance
from domain.relative import RelativeMetrics
from domain.results import DailyResult, MonthlyResult, Trade
from domain.submission_warnings import SubmissionWarning
from infrastructure.database import as_utc

Row = Mapping[Any, Any]


class BacktestSummary(msgspec.Struct, frozen=True):
    """One item of the list: a backtest and its computed metrics."""

    backtest_id: str
    symbol: str
    interval: str
    strategy: str
    test_mode: str
    market_type: str
    start_date: dt.date
    end_date: dt.date
    created_at: dt.datetime
    position: int
    metrics: Metrics
    # Last, so that a stored item from before experiments gained it by appending.
    experiment: str | None = None


class BacktestPage(msgspec.Struct, frozen=True):
    items: list[BacktestSummary]
    next_cursor: str | None


class BacktestDetail(msgspec.Struct, frozen=True):
    """Everything needed to render one backtest."""

    backtest_id: str
    symbol: str
    interval: str
    strategy: str
    test_mode: str
    market_type: str
    start_date: dt.date
    end_date: dt.date
    created_at: dt.datetime
    position: int
    metrics: Metrics
    parameters: dict[str, Any]
    initial_capital: float
    periods_per_year: int
    reported_metrics: dict[str, float | None] | None
    sanitized_fields: list[str]
    # The rows' spacing ("1d", "1h"), what the submission was kept with, and the
    # headline figures as backtesting.py and quantstats compute them (0011).
    bar_size: str | None
    warnings: list[SubmissionWarning]
    conventions: Conventions | None
    # against the rows' benchmark_return: every figure null without one (0016)
    relative: RelativeMetrics | None
    daily_results: list[DailyResult]
    monthly_results: list[MonthlyResult]
    trades: list[Trade]
    experiment: str | None = None
    # Which code, on which data, in which environment; null when the client sent none.
    provenance: Provenance | None = None


def summary_of(row: Row) -> BacktestSummary:
    """A list item from its ``backtests`` row."""
    return BacktestSummary(
        backtest_id=row["backtest_id"],
        symbol=row["symbol"],
        interval=row["interval"],
        strategy=row["strategy"],
        test_mode=row["test_mode"],
        market_type=row["market_type"],
        start_date=row["start_date"],
        end_date=row["end_date"],
        created_at=as_utc(row["created_at"]),
        position=row["position"],
        metrics=Metrics(**{name: row[name] for name in METRIC_NAMES}),
        experiment=row["experiment"],
    )


def detail_of(
    summary: BacktestSummary,
    details: Row,
    daily: Iterable[DailyResult],
    monthly: Iterable[MonthlyResult],
    trades: Iterable[Trade],
) -> BacktestDetail:
    """A detail from its list item, its ``backtest_details`` row and its stored series."""
    return BacktestDetail(
        **msgspec.structs.asdict(summary),
        parameters=msgspec.json.decode(details["parameters"]),
        initial_capital=details["initial_capital"],
        periods_per_year=details["periods_per_year"],
        reported_metrics=None
        if details["reported_metrics"] is None
        else msgspec.json.decode(details["reported_metrics"]),
        sanitized_fields=msgspec.json.decode(details["sanitized_fields"]),
        bar_size=details["bar_size"],
        warnings=_warnings.decode(details["warnings"] or "[]"),
        conventions=None
        if details["conventions"] is None
        else _conventions.decode(details["conventions"]),
        relative=None if details.get("relative") is None else _relative.decode(details["relative"]),
        daily_results=list(daily),
        monthly_results=list(monthly),
        trades=list(trades),
        provenance=None
        if details.get("provenance") is None
        else _provenance.decode(details["provenance"]),
    )


_provenance = msgspec.json.Decoder(Provenance)
_warnings = msgspec.json.Decoder(list[SubmissionWarning])
_conventions = msgspec.json.Decoder(Conventions)
_relative = msgspec.json.Decoder(RelativeMetrics)

# msgspec escapes a NUL inside any string it encodes, so a NUL byte in its output can
# only be one of these placeholders
_HOLE = msgspec.Raw(b"\x00")
ENCODED_SLICE = 2_000


def detail_json(
    summary: BacktestSummary,
    details: Row,
    daily: Iterable[DailyResult],
    monthly: Iterable[MonthlyResult],
    trades: Iterable[Trade],
) -> Iterator[bytes]:
    """The JSON of ``detail_of(...)``, byte for byte, in chunks: the values are made
    and encoded ``ENCODED_SLICE`` at a time, so a detail of a million days is never
    held whole, as objects or as text."""
    shell = msgspec.structs.replace(
        detail_of(summary, details, (), (), ()),
        daily_results=_HOLE,
        monthly_results=_HOLE,
        trades=_HOLE,
    )
    head, after_daily, after_monthly, tail = msgspec.json.encode(shell).split(b"\x00")
    yield head
    yield from _json_array(daily)
    yield after_daily
    yield from _json_array(monthly)
    yield after_monthly
    yield from _json_array(trades)
    yield tail


def _json_array(values: Iterable[msgspec.Struct]) -> Iterator[bytes]:
    """``msgspec.json.encode(list(values))``, a slice of values at a time."""
    pending = iter(values)
    yield b"["
    first = True
    while batch := list(itertools.islice(pending, ENCODED_SLICE)):
        encoded = msgspec.json.encode(batch)[1:-1]
        yield encoded if first else b"," + encoded
        first = False
    yield b"]"
