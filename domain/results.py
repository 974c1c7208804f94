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


def doc(text: str) -> msgspec.Meta:
    """A field's description: in the OpenAPI document and the generated reference. It
    constrains nothing, so the event types may carry it too."""
    return msgspec.Meta(description=text)


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

    date: Annotated[dt.date | UnsetType, doc("the bar's date, for daily and longer bars")] = UNSET
    time: Annotated[
        Instant | UnsetType, doc("the bar's time with an offset (stored as UTC), for intraday bars")
    ] = UNSET
    equity: Annotated[Number, doc("the account's value at the bar's close")]
    return_: Annotated[
        OptionalNumber,
        doc("the bar's return as a fraction; absent: derived from the equity"),
    ] = msgspec.field(default=UNSET, name="return")
    cash: Annotated[OptionalNumber, doc("cash held, exported in daily.csv")] = UNSET
    position: Annotated[OptionalNumber, doc("the position held, exported in daily.csv")] = UNSET
    benchmark_return: Annotated[
        OptionalNumber, doc("the benchmark's return over the bar, exported in daily.csv")
    ] = UNSET

    @property
    def at(self) -> dt.date:
        """The bar's date, or its time (a ``datetime``, in UTC once recorded). A
        validated row has one of them; read for every row, so an identity test."""
        return cast(dt.date, self.date if self.time is UNSET else self.time)


class MonthlyResult(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One month's result as the client computed it."""

    month: Annotated[Month, doc("YYYY-MM")]
    return_: Annotated[Number, doc("the month's return as a fraction")] = msgspec.field(
        name="return"
    )
    start_equity: Annotated[OptionalNumber, doc("the equity when the month began")] = UNSET
    end_equity: Annotated[OptionalNumber, doc("the equity when the month ended")] = UNSET


class Trade(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One closed trade."""

    entry_time: Annotated[Instant, doc("when it was entered, with an offset")]
    exit_time: Annotated[Instant, doc("when it was left, with an offset")]
    side: Annotated[Literal["long", "short"], doc("the direction")]
    entry_price: Annotated[Number, doc("the price it was entered at")]
    exit_price: Annotated[Number, doc("the price it was left at")]
    quantity: Annotated[Number, doc("the size, above 0 (the side gives the direction)")]
    pnl: Annotated[Number, doc("the profit or loss, net of fees; null: neither win nor loss")]
    return_: Annotated[OptionalNumber, doc("the trade's return as a fraction")] = msgspec.field(
        default=UNSET, name="return"
    )
    fees: Annotated[OptionalNumber, doc("the commission and costs paid")] = UNSET


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
    parameters: Annotated[
        dict[str, Any],
        doc(
            "the strategy's parameters: any JSON object, at most 1,000 leaves, no two "
            "flattening to one dotted path; searched and exported by dotted path"
        ),
    ] = msgspec.field(default_factory=dict)
    # Absent: inferred from the bars' spacing when recorded (domain.bars), so every
    # recorded event holds the figure its metrics were annualised with.
    periods_per_year: int | UnsetType = UNSET
    monthly_results: Annotated[
        list[MonthlyResult] | UnsetType,
        doc("months as the client computed them; absent: derived from the bars"),
    ] = UNSET
    trades: Annotated[list[Trade], doc("the closed trades")] = msgspec.field(default_factory=list)
    metrics: Annotated[
        dict[str, Number] | UnsetType,
        doc(
            "the client's own figures, kept as `reported_metrics` and never used for "
            "the ledger's metrics"
        ),
    ] = UNSET
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

    symbol: Annotated[ShortText, doc("the instrument, as you name it (`SPX`, `BTC-USD`)")]
    interval: Annotated[
        ShortText,
        doc(
            "the bars' size by name: `1d`, `1h`, `15m`, `1w`, `1M` (`m` a minute, `M` a "
            "month); a warning when it contradicts the rows' spacing"
        ),
    ]
    strategy: Annotated[str, msgspec.Meta(min_length=1, max_length=200), doc("its name")]
    test_mode: Annotated[ShortText, doc("how it ran, as you name it: `backtest`, `paper`…")]
    market_type: Annotated[ShortText, doc("as you name it: `equity`, `crypto`, `futures`…")]
    periods_per_year: Annotated[
        PeriodsPerYear | UnsetType,
        doc(
            "bars a year, to annualise with; absent: inferred from the rows' spacing "
            "(252 weekdays, 365 every day, 52 weekly, 12 monthly, 365 × bars a day for "
            "intraday bars every day), and required for intraday bars on weekdays only"
        ),
    ] = UNSET
    experiment: Annotated[
        ExperimentName | UnsetType | None,
        doc(
            "the sweep it belongs to: one URL path segment, in Unicode NFKC form, its "
            "letters from one of the Latin, Greek and Cyrillic scripts"
        ),
    ] = UNSET
    provenance: Annotated[
        SubmittedProvenance | UnsetType | None,
        doc("which code, on which data, in which environment; every part optional"),
    ] = UNSET
    initial_capital: Annotated[float, msgspec.Meta(gt=0), doc("the equity before the first bar")]
    daily_results: Annotated[
        list[DailyResult],
        msgspec.Meta(min_length=1),
        doc("the bars, strictly increasing, all keyed by `date` or all by `time`"),
    ]


def given(value: OptionalNumber) -> Number:
    """The value of an optional field, with ``None`` for both absent and null."""
    return None if isinstance(value, UnsetType) else value
