"""Value types of a submitted backtest: the POST body, its daily rows, months and trades.

Optional numeric fields are ``UNSET`` when the client did not send them, so the
recorded event keeps exactly what was submitted, and ``None`` when the client sent
null or a non-finite number that was sanitised.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, cast

import msgspec
from msgspec import UNSET, UnsetType

from domain.provenance import Provenance, SubmittedProvenance

Number = float | None
OptionalNumber = float | None | UnsetType
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# Exactly YYYY-MM in ASCII digits: \d would take "２０２０" and $ a trailing newline.
Month = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])\Z")]
Instant = Annotated[dt.datetime, msgspec.Meta(tz=True)]
# An experiment is addressed as one URL path segment: no "/", no control characters.
ExperimentName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^/\x00-\x1f\x7f]+$")
]


# The rows hold scalars only, so they can be in no reference cycle: gc=False spares
# the collector's header, 16 bytes a row of what may be millions.
class DailyResult(msgspec.Struct, forbid_unknown_fields=True, gc=False, kw_only=True):
    """One bar: keyed by ``date`` (daily and longer bars) or by ``time`` (intraday),
    one or the other for a whole series."""

    date: dt.date | UnsetType = UNSET
    time: Instant | UnsetType = UNSET
    equity: Number
    return_: OptionalNumber = msgspec.field(default=UNSET, name="return")
    cash: OptionalNumber = UNSET
    position: OptionalNumber = UNSET
    benchmark_return: OptionalNumber = UNSET

    @property
    def at(self) -> dt.date:
        """The bar's date, or its time (a ``datetime``, in UTC once recorded). A
        validated row has one of them; read for every row, so an identity test."""
        return cast(dt.date, self.date if self.time is UNSET else self.time)


class MonthlyResult(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    month: Month
    return_: Number = msgspec.field(name="return")
    start_equity: OptionalNumber = UNSET
    end_equity: OptionalNumber = UNSET


class Trade(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    entry_time: Instant
    exit_time: Instant
    side: Literal["long", "short"]
    entry_price: Number
    exit_price: Number
    quantity: Number
    pnl: Number
    return_: OptionalNumber = msgspec.field(default=UNSET, name="return")
    fees: OptionalNumber = UNSET


class RecordedSubmission(msgspec.Struct, forbid_unknown_fields=True):
    """A backtest as its ``BacktestRecorded`` event holds it, and as the log is read.

    It carries no limits (lengths, ranges, caps): those belong to the command
    (``BacktestSubmission``), so an event stays readable whatever limits a later
    version sets, and a value the write path derives cannot store an event its own
    reader refuses."""

    symbol: str
    interval: str
    strategy: str
    test_mode: str
    market_type: str
    initial_capital: Number
    daily_results: list[DailyResult]
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    # Absent: inferred from the bars' spacing when recorded (domain.bars), so every
    # recorded event holds the figure its metrics were annualised with.
    periods_per_year: int | UnsetType = UNSET
    monthly_results: list[MonthlyResult] | UnsetType = UNSET
    trades: list[Trade] = msgspec.field(default_factory=list)
    metrics: dict[str, Number] | UnsetType = UNSET
    # The sweep this backtest belongs to. Absent from the bytes when not sent, so a
    # backtest without one is stored exactly as before experiments existed.
    experiment: str | UnsetType | None = UNSET
    # Which code, on which data, in which environment: absent from the bytes when not
    # sent, like ``experiment``.
    provenance: Provenance | UnsetType | None = UNSET

    @property
    def periods(self) -> int:
        """``periods_per_year``, resolved (a recorded submission always has it)."""
        assert not isinstance(self.periods_per_year, UnsetType), "resolved when recorded"
        return self.periods_per_year

    @property
    def experiment_name(self) -> str | None:
        return None if isinstance(self.experiment, UnsetType) else self.experiment


# One-second bars on a market that never closes: 365 × 86,400 a year.
MAX_PERIODS_PER_YEAR = 31_536_000
PeriodsPerYear = Annotated[int, msgspec.Meta(ge=1, le=MAX_PERIODS_PER_YEAR)]


class BacktestSubmission(RecordedSubmission):
    """The body of a RecordBacktest command, as the client sent it (sanitised), with
    the limits a new submission must keep: what the API documents and enforces."""

    symbol: ShortText
    interval: ShortText
    strategy: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    test_mode: ShortText
    market_type: ShortText
    periods_per_year: PeriodsPerYear | UnsetType = UNSET
    experiment: ExperimentName | UnsetType | None = UNSET
    provenance: SubmittedProvenance | UnsetType | None = UNSET
    initial_capital: Annotated[float, msgspec.Meta(gt=0)]
    daily_results: Annotated[list[DailyResult], msgspec.Meta(min_length=1)]


def given(value: OptionalNumber) -> Number:
    """The value of an optional field, with ``None`` for both absent and null."""
    return None if isinstance(value, UnsetType) else value
