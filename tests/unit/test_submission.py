"""Parsing and validating submitted backtests: every refusal names its field."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from domain.errors import InvalidBacktest
from domain.results import UNSET
from domain.submission import msgspec_path_to_pointer, parse_submission, submission_from_document
from tests.factories import backtest_document, body


def refusal(document: Any) -> InvalidBacktest:
    raw = document if isinstance(document, bytes) else body(document)
    with pytest.raises(InvalidBacktest) as caught:
        parse_submission(raw)
    return caught.value


def test_a_python_client_body_with_nan_and_infinity_is_accepted_and_sanitised() -> None:
    doc = backtest_document(days=3)
    doc["daily_results"][1]["return"] = float("nan")
    doc["trades"][0]["pnl"] = float("inf")
    doc["metrics"] = {"sharpe": float("-inf"), "cagr": 0.1}
    raw = json.dumps(doc).encode()
    assert b"NaN" in raw and b"Infinity" in raw
    submission, sanitized = parse_submission(raw)
    assert submission.daily_results[1].return_ is None
    assert submission.trades[0].pnl is None
    assert submission.metrics == {"sharpe": None, "cagr": 0.1}
    assert sanitized == ["/daily_results/1/return", "/trades/0/pnl", "/metrics/sharpe"]


def test_absent_optional_fields_stay_unset_so_the_event_keeps_what_was_sent() -> None:
    submission, _ = parse_submission(body(backtest_document(days=2)))
    assert submission.daily_results[0].return_ is UNSET
    assert submission.monthly_results is UNSET
    assert submission.periods_per_year == 365


def test_times_are_stored_as_utc_instants() -> None:
    doc = backtest_document(days=2, trades=1)
    doc["trades"][0]["entry_time"] = "2024-03-01T10:00:00+02:00"
    doc["trades"][0]["exit_time"] = "2024-03-01T12:00:00+02:00"
    submission, _ = parse_submission(body(doc))
    assert submission.trades[0].entry_time == dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.UTC)
    assert submission.trades[0].entry_time.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda d: d.pop("symbol"), "/symbol"),
        (lambda d: d["daily_results"][0].pop("equity"), "/daily_results/0/equity"),
        (lambda d: d.update(symbol=""), "/symbol"),
        (lambda d: d.update(symbol="X" * 65), "/symbol"),
        (lambda d: d.update(initial_capital=0), "/initial_capital"),
        (lambda d: d.update(initial_capital=float("nan")), "/initial_capital"),
        (lambda d: d.update(initial_capital="1000"), "/initial_capital"),
        (lambda d: d.update(daily_results=[]), "/daily_results"),
        (lambda d: d["daily_results"][2].update(date="2024-01-02"), "/daily_results/2/date"),
        (lambda d: d["daily_results"][1].update(date="2024-02-30"), "/daily_results/1/date"),
        (lambda d: d["daily_results"][1].update(equity="lots"), "/daily_results/1/equity"),
        (lambda d: d["daily_results"][1].update(colour="red"), "/daily_results/1/colour"),
        (lambda d: d["trades"][1].update(side="sideways"), "/trades/1/side"),
        (
            lambda d: d["trades"][0].update(exit_time="2023-12-31T00:00:00Z"),
            "/trades/0/exit_time",
        ),
        (lambda d: d["trades"][0].update(entry_time="2024-01-01T10:00:00"), "/trades/0/entry_time"),
        (lambda d: d.update(periods_per_year=0), "/periods_per_year"),
        (
            lambda d: d.update(monthly_results=[{"month": "2024-13", "return": 0.1}]),
            "/monthly_results/0/month",
        ),
        (lambda d: d["parameters"].update(note="a\x00b"), "/parameters/note"),
    ],
)
def test_bad_fields_are_refused_by_json_pointer(change: Any, pointer: str) -> None:
    doc = backtest_document(days=5)
    change(doc)
    error = refusal(doc)
    assert error.errors[0].pointer == pointer, str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"symbol": "X",}', b"[1, 2]", b"\xff\xfe{}", b"null", b'"text"'],
)
def test_malformed_bodies_are_refused_at_the_root(raw: bytes) -> None:
    assert refusal(raw).errors[0].pointer == ""


def test_msgspec_paths_become_json_pointers() -> None:
    assert msgspec_path_to_pointer("$.daily_results[3].date") == "/daily_results/3/date"
    assert msgspec_path_to_pointer("$") == ""


def test_the_fast_and_careful_paths_agree_on_finite_bodies() -> None:
    raw = body(backtest_document(days=50, trades=20))
    fast, fast_sanitized = parse_submission(raw)
    careful, careful_sanitized = submission_from_document(json.loads(raw))
    assert fast == careful and fast_sanitized == careful_sanitized == []


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda d: d["parameters"].update(big=2**70), "/parameters/big"),
        (lambda d: d["daily_results"][1].update(equity=2**70), "/daily_results/1/equity"),
        (lambda d: d["parameters"].update(deep=nested(80)), "/parameters/deep"),
    ],
)
def test_what_only_the_careful_path_refuses_is_refused_whichever_path(
    change: Any, pointer: str
) -> None:
    doc = backtest_document(days=3)
    change(doc)
    assert refusal(doc).errors[0].pointer.startswith(pointer)


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(depth):
        node = {"x": node}
    return node
