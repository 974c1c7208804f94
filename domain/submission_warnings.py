"""What a recorded backtest is kept with when it is legal but probably not what the
client meant: each warning names its field by JSON pointer, like a 422 would, and
says which rule the metrics applied."""

from __future__ import annotations

import datetime as dt

import msgspec
import numpy as np
from msgspec import UNSET

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
    # recorded times are in UTC, so a stamp's own weekday is the one has_weekend reads
    weekend = next((i for i, stamp in enumerate(stamps) if stamp.weekday() >= 5), None)
    rows = f"rows {_seconds_text(step)} apart"
    if weekend is not None:
        rows += f" with weekend rows (the first: /daily_results/{weekend})"
    return (
        f"{given} periods a year given, but {rows} annualise with {inferred}: the "
        f"Sharpe, Sortino, volatility and CAGR use the {given} given"
    )


# A given return and the equity's own agree when the equity it gives is within this
# fraction of the one sent (rounding in the client's arithmetic, not a different series).
RETURN_TOLERANCE = 1e-6


def _returns_against_equity(sub: RecordedSubmission) -> SubmissionWarning | None:
    """The first row whose given ``return`` moves the previous equity (the initial
    capital before the first row) somewhere else than its own ``equity``."""
    days = sub.daily_results
    if not any(day.return_ is not UNSET for day in days):
        return None
    equity = np.array([np.nan if d.equity is None else d.equity for d in days], dtype=float)
    given = np.array([np.nan if d.return_ in (None, UNSET) else d.return_ for d in days],
                     dtype=float)  # fmt: skip
    before = np.concatenate((np.array([sub.initial_capital], dtype=float), equity[:-1]))
    with np.errstate(all="ignore"):  # past the largest double: inf, compared as such
        off = np.abs(before * (1.0 + given) - equity) > RETURN_TOLERANCE * np.abs(equity)
        rows = np.flatnonzero(off)  # rows where anything is unknown compare False
        if not len(rows):
            return None
        first = int(rows[0])
        own = equity[first] / before[first] - 1.0
    return SubmissionWarning(
        f"/daily_results/{first}/return",
        f"the return given ({given[first]:.6g}) is not the equity's own ({own:.6g}, from "
        f"{'the initial capital' if first == 0 else f'/daily_results/{first - 1}/equity'}); "
        f"{len(rows)} row(s) disagree: the Sharpe, Sortino and volatility use the returns "
        "given, the total return, CAGR and drawdown the equity",
    )


def _negative_equity(equities: list[float | None]) -> SubmissionWarning | None:
    below = [i for i, e in enumerate(equities) if e is not None and e < 0]
    if not below:
        return None
    return SubmissionWarning(
        f"/daily_results/{below[0]}/equity",
        f"{len(below)} row(s) with a negative equity: an account that lost more than it "
        "had; returns across a change of sign, and the drawdown below zero, mean nothing",
    )


def _trades_outside(sub: RecordedSubmission, step: int | None) -> SubmissionWarning | None:
    """Trades entered before the first bar or left after the last one ends (a bar
    lasts its spacing; a daily bar its day)."""
    if not sub.trades or not sub.daily_results:
        return None
    first, last = sub.daily_results[0].at, sub.daily_results[-1].at
    length = dt.timedelta(seconds=step or 0)
    if isinstance(first, dt.datetime):
        ends = last + length
        outside = [i for i, t in enumerate(sub.trades)
                   if t.entry_time < first or t.exit_time > ends]  # fmt: skip
    else:
        ends = last + max(length - dt.timedelta(days=1), dt.timedelta(0))
        outside = [i for i, t in enumerate(sub.trades)
                   if t.entry_time.astimezone(dt.UTC).date() < first
                   or t.exit_time.astimezone(dt.UTC).date() > ends]  # fmt: skip
    if not outside:
        return None
    return SubmissionWarning(
        f"/trades/{outside[0]}",
        f"{len(outside)} trade(s) outside the series' span ({first.isoformat()} to "
        f"{ends.isoformat()}): counted in the trade figures all the same",
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
    inferred = bars.periods_at(step, stamps) if step is not None else None
    if step and inferred and abs(sub.periods - inferred) > PERIODS_TOLERANCE * inferred:
        message = _periods_message(sub.periods, inferred, step, stamps)
        warnings.append(SubmissionWarning("/periods_per_year", message))
    equities = [day.equity for day in sub.daily_results]
    for found in (_returns_against_equity(sub), _negative_equity(equities)):
        if found is not None:
            warnings.append(found)
    if equities and equities[-1] is None:
        known = max((i for i, e in enumerate(equities) if e is not None), default=None)
        used = (
            "no row has one, so every figure but the trades' is null"
            if known is None
            else (f"every figure covers the rows through the last known one, "
                  f"/daily_results/{known}/equity")
        )  # fmt: skip
        warnings.append(
            SubmissionWarning(f"/daily_results/{len(equities) - 1}/equity",
                              f"the final equity is null: {used}")
        )  # fmt: skip
    outside = _trades_outside(sub, step)
    if outside is not None:
        warnings.append(outside)
    unknown = [i for i, trade in enumerate(sub.trades) if trade.pnl is None]
    if unknown:
        warnings.append(SubmissionWarning(
            f"/trades/{unknown[0]}/pnl",
            f"{len(unknown)} trade(s) with a null pnl: counted in num_trades, left out of "
            "win_rate and profit_factor",
        ))  # fmt: skip
    return warnings
