"""Bar sizes: how far apart a backtest's rows are, the name of that spacing, what it
annualises to when the client did not say, and what an ``interval`` name means.

A series is keyed by dates (daily bars and longer) or by UTC times (intraday); its
spacing is the median step between rows, so weekends and holidays do not change it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence

import numpy as np

DAY = 86_400
WEEK = 7 * DAY
# A calendar month is 28 to 31 days apart.
MONTH_STEPS = (28 * DAY, 31 * DAY)
_UNITS = (("d", DAY), ("h", 3_600), ("m", 60), ("s", 1))


def _seconds(stamp: dt.date) -> int:
    if isinstance(stamp, dt.datetime):
        return math.floor(stamp.timestamp())  # before 1970 too: floored, not truncated
    return stamp.toordinal() * DAY


def spacing(stamps: Sequence[dt.date]) -> int | None:
    """The median step between consecutive rows in seconds (None under two rows)."""
    if len(stamps) < 2:
        return None
    seconds = np.fromiter(map(_seconds, stamps), np.int64, len(stamps))
    return int(np.median(np.diff(seconds)))


def bar_size(step: int | None) -> str | None:
    """A spacing named as intervals are: ``"1w"`` a week, ``"1M"`` a calendar month
    (28 to 31 days), else by its largest whole unit (``"1d"``, ``"4h"``, ``"15m"``,
    ``"3d"``)."""
    if step is None or step <= 0:
        return None
    if step == WEEK:
        return "1w"
    if MONTH_STEPS[0] <= step <= MONTH_STEPS[1]:
        return "1M"
    for unit, size in _UNITS:
        if step % size == 0:
            return f"{step // size}{unit}"
    return f"{step}s"  # pragma: no cover (every whole step divides by a second)


def has_weekend(stamps: Sequence[dt.date]) -> bool:
    """Whether any row falls on a Saturday or Sunday: in UTC for times, whatever offset
    they were sent with (a bar at 00:00+00:01 on a Saturday is a Friday's)."""
    if not stamps:
        return False
    if isinstance(stamps[0], dt.datetime):
        seconds = np.fromiter(map(_seconds, stamps), np.int64, len(stamps))
        # 1970-01-01 was a Thursday (weekday 3)
        weekdays = (np.floor_divide(seconds, DAY) + 3) % 7
    else:
        # day 1 of the proleptic calendar was a Monday (weekday 0)
        ordinals = np.fromiter((stamp.toordinal() for stamp in stamps), np.int64, len(stamps))
        weekdays = (ordinals - 1) % 7
    return bool((weekdays >= 5).any())


def inferred_periods(stamps: Sequence[dt.date]) -> int | None:
    """``periods_per_year`` when the spacing alone tells it: 252 for weekday daily bars,
    365 for calendar-daily ones, 52 weekly, 12 monthly, and bars a day divides into
    that trade every day (crypto) 365 times as many; None when it cannot be guessed
    (hourly US equities: 252 × 6.5 or 252 × 7, the session decides)."""
    return periods_at(spacing(stamps), stamps)


def periods_at(step: int | None, stamps: Sequence[dt.date]) -> int | None:
    """``inferred_periods`` for rows whose spacing is already known to be ``step``."""
    if step is None:
        return 252  # one row: nothing is annualised
    if step == DAY:
        return 365 if has_weekend(stamps) else 252
    if step == WEEK:
        return 52
    if MONTH_STEPS[0] <= step <= MONTH_STEPS[1]:
        return 12
    if 0 < step < DAY and DAY % step == 0 and has_weekend(stamps):
        return 365 * (DAY // step)
    return None


_INTERVAL = re.compile(r"^\s*(\d*)\s*([a-zA-Z]+)\s*$")
# Names as exchanges and libraries write them: "m" is a minute, "M" a month.
_INTERVAL_UNITS: dict[str, tuple[int, int]] = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), (1, 1)),
    **dict.fromkeys(("m", "min", "minute", "minutes", "t"), (60, 60)),
    **dict.fromkeys(("h", "hr", "hour", "hours", "hourly"), (3_600, 3_600)),
    **dict.fromkeys(("d", "day", "days", "daily"), (DAY, DAY)),
    **dict.fromkeys(("w", "wk", "week", "weeks", "weekly"), (WEEK, WEEK)),
    **dict.fromkeys(("mo", "mon", "month", "months", "monthly", "M"), MONTH_STEPS),
}


def interval_steps(interval: str) -> tuple[int, int] | None:
    """The spacing an ``interval`` name gives, as (shortest, longest) seconds, or None
    for a name it does not know ("tick", "custom")."""
    match = _INTERVAL.match(interval)
    if match is None:
        return None
    count = int(match.group(1) or 1)
    unit = match.group(2)
    steps = _INTERVAL_UNITS.get(unit) or _INTERVAL_UNITS.get(unit.lower())
    if steps is None or count == 0:
        return None
    return steps[0] * count, steps[1] * count
