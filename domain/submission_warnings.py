"""What a recorded backtest is kept with when it is legal but probably not what the
client meant: each warning names its field by JSON pointer, like a 422 would, and
says which rule the metrics applied."""

from __future__ import annotations

import msgspec

from domain import bars
from domain.results import RecordedSubmission


class SubmissionWarning(msgspec.Struct, frozen=True):
    pointer: str
    message: str


def _seconds_text(seconds: int) -> str:
    return bars.bar_size(seconds) or f"{seconds}s"


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
    if sub.periods == 252 and step is not None and step <= bars.DAY and bars.has_weekend(stamps):
        weekend = next(i for i, stamp in enumerate(stamps) if stamp.weekday() >= 5)
        warnings.append(SubmissionWarning(
            "/periods_per_year",
            f"252 periods a year (trading days) on a series with weekend rows (the first: "
            f"/daily_results/{weekend}); a calendar-daily series annualises with 365",
        ))  # fmt: skip
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
