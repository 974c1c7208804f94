"""What a recorded backtest is kept with when it is legal but probably not what the
client meant: each warning names its field by JSON pointer, like a 422 would, and
says which rule the metrics applied."""

from __future__ import annotations

import datetime as dt

import msgspec

from domain import bars
from domain.results import RecordedSubmission


class SubmissionWarning(msgspec.Struct, frozen=True):
    pointer: str
    message: str


def _seconds_text(seconds: int) -> str:
    return bars.bar_size(seconds) or f"{seconds}s"


# A given periods_per_year this far from the one the rows' spacing gives is a warning:
# 252 against 260 weekdays or 250 sessions is a convention; 252 for weekly rows is not.
PERIODS_TOLERANCE = 0.10


def _periods_message(given: int, inferred: int, step: int, stamps: list[dt.date]) -> str:
    weekend = next((i for i, stamp in enumerate(stamps) if bars.has_weekend([stamp])), None)
    rows = f"rows {_seconds_text(step)} apart"
    if weekend is not None:  # the first one ends the search: a week has a weekend
        rows += f" with weekend rows (the first: /daily_results/{weekend})"
    return (
        f"{given} periods a year given, but {rows} annualise with {inferred}: the "
        f"Sharpe, Sortino, volatility and CAGR use the {given} given"
    )


def submission_warnings(sub: RecordedSubmission) -> list[SubmissionWarning]:
    """The warnings of one recorded submission, in the order of its fields."""
    warnings: list[SubmissionWarning] = []
    stamps = [day.at for day in sub.daily_results]
    step = bars.spacing(stamps)
    named = bars.interval_steps(sub.interval)
    if step is not None and named is not None and not named[0] <= step <= named[1]:
        warnings.append(SubmissionWarning(
            "/interval",
            f"interval {sub.interval!r} means bars {_seconds_text(named[0])} apart, but the "
            f"rows are {_seconds_text(step)} apart",
        ))  # fmt: skip
    inferred = bars.inferred_periods(stamps) if step is not None else None
    if step and inferred and abs(sub.periods - inferred) > PERIODS_TOLERANCE * inferred:
        message = _periods_message(sub.periods, inferred, step, stamps)
        warnings.append(SubmissionWarning("/periods_per_year", message))
    equities = [day.equity for day in sub.daily_results]
    if equities and equities[-1] is None:
        known = max((i for i, e in enumerate(equities) if e is not None), default=None)
        used = (
            "no row has one, so total return is null"
            if known is None
            else (f"total return uses the last known one, /daily_results/{known}/equity")
        )
        warnings.append(
            SubmissionWarning(f"/daily_results/{len(equities) - 1}/equity",
                              f"the final equity is null: {used}")
        )  # fmt: skip
    unknown = [i for i, trade in enumerate(sub.trades) if trade.pnl is None]
    if unknown:
        warnings.append(SubmissionWarning(
            f"/trades/{unknown[0]}/pnl",
            f"{len(unknown)} trade(s) with a null pnl: counted in num_trades, left out of "
            "win_rate and profit_factor",
        ))  # fmt: skip
    return warnings
