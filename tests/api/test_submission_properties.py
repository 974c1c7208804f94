"""Write and read are one contract: every submission the write path accepts stores an
event that reads back, a history, a delete, and a rebuild and verify that pass, on
both stores. And no submission, accepted or not, answers a 5xx.

Submissions are drawn over the whole body: daily and intraday rows, every optional
field, numbers from the smallest subnormal to the largest double, the NaN and
Infinity tokens Python clients send, offsets, bars from a second to a month apart.
Under CI the examples are derandomised, so a run is repeatable.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infrastructure.event_store import load_stream
from projections.rebuild import rebuild, verify
from tests.api.conftest import Api

# A bounded number in the suite; more to hunt with: BACKTEST_LEDGER_PROPERTY_EXAMPLES=500
EXAMPLES = int(os.environ.get("BACKTEST_LEDGER_PROPERTY_EXAMPLES", "30"))

# Steps between rows, in seconds: one second to a calendar month, and irregular ones.
STEPS = st.sampled_from([1, 10, 30, 60, 900, 3_600, 14_400, 86_400, 7 * 86_400, 30 * 86_400])
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1.7976931348623157e308, -1e308]),
    st.none(),
)
POSITIVE = st.one_of(
    st.floats(min_value=5e-324, max_value=1.7976931348623157e308), st.sampled_from([1e-300, 1e300])
)


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], tenths: int = 9) -> Any:
    """``usual`` ``tenths`` times in ten, else ``rare``: most drawn bodies should be
    legal, so that what the write path accepts is tested, and some should not."""
    return st.integers(0, 9).flatmap(lambda k: usual if k < tenths else rare)


def text(min_size: int = 0, max_size: int = 64) -> Any:
    """Mostly text a store keeps; now and then any text (a NUL, a lone surrogate: refused,
    never a 5xx)."""
    clean = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
    return mostly(st.text(clean, min_size=min_size, max_size=max_size),
                  st.text(min_size=min_size, max_size=max_size))  # fmt: skip


TEXT = text(1)
# Mostly legal equity, with gaps (null, NaN, Infinity) and now and then any number.
EQUITY = mostly(POSITIVE, st.sampled_from([None, math.nan, math.inf]) | NUMBERS)
OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)


# Near the calendar's ends, where an offset can take a time past year 1 or 9999.
FIRST, LAST = dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30)


def _optional(row: dict[str, Any], name: str, value: Any) -> None:
    if value is not _ABSENT:
        row[name] = value


_ABSENT = object()
MAYBE_NUMBER = st.one_of(st.just(_ABSENT), NUMBERS)


@st.composite
def daily_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=40))
    step = draw(STEPS)
    intraday = step < 86_400
    if intraday:
        start = draw(
            st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30))
        )
        zone = draw(OFFSETS)
    else:
        start = dt.datetime.combine(
            draw(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))), dt.time()
        )
    equity = (
        draw(st.lists(EQUITY, min_size=count, max_size=count))
        if draw(st.booleans())
        else [draw(POSITIVE)] * count
    )
    rows = []
    for i in range(count):
        try:
            at = start + dt.timedelta(seconds=step * i)
        except OverflowError:
            break
        row: dict[str, Any] = (
            {"time": at.replace(tzinfo=zone).isoformat()} if intraday
            else {"date": at.date().isoformat()}
        )  # fmt: skip
        row["equity"] = equity[i]
        for name in ("return", "cash", "position", "benchmark_return"):
            _optional(row, name, draw(MAYBE_NUMBER))
        rows.append(row)
    return rows


@st.composite
def trades(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        entry = draw(st.datetimes(min_value=FIRST, max_value=LAST, timezones=OFFSETS))
        held = dt.timedelta(seconds=draw(st.integers(min_value=0, max_value=10**7)))
        exit_ = entry + held if entry.astimezone(dt.UTC).year < 9999 else entry
        trade = {
            "entry_time": entry.isoformat(),
            "exit_time": exit_.isoformat(),
            "side": draw(st.sampled_from(["long", "short"])),
            "entry_price": draw(NUMBERS),
            "exit_price": draw(NUMBERS),
            "quantity": draw(st.one_of(POSITIVE, st.none())),
            "pnl": draw(NUMBERS),
        }
        for name in ("return", "fees"):
            _optional(trade, name, draw(MAYBE_NUMBER))
        out.append(trade)
    return out


JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), NUMBERS, TEXT)
PARAMETERS = st.dictionaries(
    text(0, 20),
    st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(text(0, 10), inner, max_size=3), max_leaves=10),
    max_size=6,
)  # fmt: skip


@st.composite
def submissions(draw: st.DrawFn) -> dict[str, Any]:
    rows = draw(daily_rows())
    doc: dict[str, Any] = {
        "symbol": draw(TEXT),
        "interval": draw(TEXT | st.sampled_from(["1s", "10s", "1m", "1h", "1d", "1w", "1M"])),
        "strategy": draw(text(1, 200)),
        "test_mode": draw(TEXT),
        "market_type": draw(TEXT),
        "initial_capital": draw(mostly(POSITIVE, NUMBERS)),
        "daily_results": rows,
        "trades": draw(trades()),
        "parameters": draw(PARAMETERS),
    }  # fmt: skip
    if draw(st.integers(0, 3)):
        doc["periods_per_year"] = draw(st.integers(min_value=1, max_value=31_536_000))
    if draw(st.booleans()):
        months = sorted({row.get("date", row.get("time", ""))[:7] for row in rows})
        doc["monthly_results"] = [{"month": m, "return": draw(NUMBERS)} for m in months]
    if draw(st.booleans()):
        doc["metrics"] = draw(st.dictionaries(text(0, 20), NUMBERS, max_size=5))
    if draw(st.booleans()):
        doc["experiment"] = draw(st.one_of(st.none(), text(1, 200)))
    return doc


def test_every_accepted_submission_reads_back_deletes_and_rebuilds(api: Api) -> None:
    accepted: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              derandomize=bool(os.environ.get("CI")),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(submissions(), st.booleans())
    def record_read_delete(document: dict[str, Any], exclude_first: bool) -> None:
        response = api.client.post(
            "/api/v1/backtests",
            content=json.dumps(document).encode(),
            headers={**api.auth("alice"), "Content-Type": "application/json"},
        )
        assert response.status_code < 500, response.text
        if response.status_code != 201:
            assert response.status_code in (400, 422), response.text
            return
        backtest_id = response.json()["backtest_id"]
        accepted.append(backtest_id)
        with api.engine.connect() as conn:
            [stored] = load_stream(conn, backtest_id)
        recorded = stored.event()  # decodes with the types the log is read with
        periods = recorded.submission.periods_per_year  # type: ignore[union-attr]
        assert isinstance(periods, int) and periods >= 1
        detail = api.get(f"/api/v1/backtests/{backtest_id}")
        assert detail.status_code == 200, detail.text
        assert all(v is None or math.isfinite(v) for v in detail.json()["metrics"].values())
        history = api.get(f"/api/v1/backtests/{backtest_id}/history")
        assert history.status_code == 200, history.text
        if exclude_first:
            excluded = api.client.post(
                f"/api/v1/backtests/{backtest_id}/exclusion",
                content=b'{"reason": "a drawn example"}',
                headers={**api.auth("alice"), "Content-Type": "application/json"},
            )
            assert excluded.status_code == 201, excluded.text
        deleted = api.client.delete(f"/api/v1/backtests/{backtest_id}", headers=api.auth("alice"))
        assert deleted.status_code == 204, deleted.text

    record_read_delete()
    assert accepted, "no drawn submission was accepted: the strategy tests nothing"
    report = rebuild(api.engine)
    assert report.ok, report.skipped
    checked = verify(api.engine)
    assert checked.ok, (checked.mismatches, checked.skipped)
    assert checked.backtests == len(accepted)
