"""Bar spacing, its name, the annualisation it implies and what interval names mean,
against calendars worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from domain import bars

MONDAY = dt.date(2024, 1, 1)


def days(n: int, weekdays_only: bool = False) -> list[dt.date]:
    out, day = [], MONDAY
    while len(out) < n:
        if not weekdays_only or day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def times(n: int, step: dt.timedelta, start: dt.datetime) -> list[dt.date]:
    return [start + i * step for i in range(n)]


UTC_SAT = dt.datetime(2024, 1, 6, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("stamps", "size", "periods"),
    [(days(30), "1d", 365),
     (days(30, weekdays_only=True), "1d", 252),  # weekends are 3-day gaps, the median 1
     # named as intervals are (issue 31: "7d" and "31d" were read where "1w", "1M" mean it)
     ([MONDAY + dt.timedelta(weeks=i) for i in range(20)], "1w", 52),
     ([dt.date(2024, m, 28) for m in range(1, 13)], "1M", 12),  # 29 to 31 days apart
     ([MONDAY + dt.timedelta(days=3 * i) for i in range(20)], "3d", None),
     (times(200, dt.timedelta(hours=1), UTC_SAT), "1h", 8760),
     (times(500, dt.timedelta(minutes=15), UTC_SAT), "15m", 35040),
     (times(50, dt.timedelta(hours=4), UTC_SAT), "4h", 2190),
     # weekday hours of a US session: not guessable
     (times(7, dt.timedelta(hours=1), dt.datetime(2024, 1, 2, 14, tzinfo=dt.UTC)), "1h", None),
     # 7-minute bars do not divide a day
     (times(400, dt.timedelta(minutes=7), UTC_SAT), "7m", None),
     ([MONDAY], None, 252)],
)  # fmt: skip
def test_spacing_names_and_periods(
    stamps: list[dt.date], size: str | None, periods: int | None
) -> None:
    assert bars.bar_size(bars.spacing(stamps)) == size
    assert bars.inferred_periods(stamps) == periods


@pytest.mark.parametrize(
    ("name", "steps"),
    [("1h", (3600, 3600)), ("4H", (14400, 14400)), ("15m", (900, 900)), ("1d", (86400, 86400)),
     ("D", (86400, 86400)), ("daily", (86400, 86400)), ("1w", (604800, 604800)),
     ("1M", (28 * 86400, 31 * 86400)), ("3mo", (84 * 86400, 93 * 86400)), ("5T", (300, 300)),
     ("tick", None), ("0h", None), ("1h30m", None), ("", None)],
)  # fmt: skip
def test_interval_names(name: str, steps: tuple[int, int] | None) -> None:
    assert bars.interval_steps(name) == steps
