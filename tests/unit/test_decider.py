"""Given events, when a command, then events (or a domain error)."""

from __future__ import annotations

import msgspec
import pytest

from domain.commands import DeleteBacktest, RecordBacktest
from domain.decider import decide, fold
from domain.errors import BacktestAlreadyExists, BacktestNotFound
from domain.events import BacktestDeleted, BacktestRecorded, decode_event, encode_event
from domain.results import RecordedSubmission
from domain.submission import parse_submission
from tests.factories import backtest_document, body

SUBMISSION, _ = parse_submission(body(backtest_document(days=3)))
RECORDED = BacktestRecorded("b1", "alice", SUBMISSION)


def test_recording_a_new_backtest_produces_one_recorded_event() -> None:
    assert decide(RecordBacktest("b1", "alice", SUBMISSION), fold([])) == [RECORDED]


def test_a_stream_cannot_be_recorded_twice() -> None:
    with pytest.raises(BacktestAlreadyExists):
        decide(RecordBacktest("b1", "alice", SUBMISSION), fold([RECORDED]))


def test_the_owner_deletes_a_live_backtest() -> None:
    assert decide(DeleteBacktest("b1", "alice"), fold([RECORDED])) == [BacktestDeleted("b1")]


@pytest.mark.parametrize(
    ("history", "actor"),
    [([], "alice"), ([RECORDED], "mallory"), ([RECORDED, BacktestDeleted("b1")], "alice")],
    ids=["missing", "another-users", "already-deleted"],
)
def test_deleting_what_the_actor_cannot_see_is_not_found(
    history: list[BacktestRecorded | BacktestDeleted], actor: str
) -> None:
    with pytest.raises(BacktestNotFound):
        decide(DeleteBacktest("b1", actor), fold(history))


def test_state_counts_the_stream_version() -> None:
    assert fold([RECORDED, BacktestDeleted("b1")]).version == 2


def test_events_round_trip_through_their_stored_bytes() -> None:
    data = encode_event(RECORDED)
    assert data.startswith(b'{"type":"BacktestRecorded"')
    decoded = decode_event(data)
    # read with the types of the log, which carry no limits: the same values
    assert type(decoded.submission) is RecordedSubmission  # type: ignore[union-attr]
    assert msgspec.to_builtins(decoded) == msgspec.to_builtins(RECORDED)
    assert encode_event(decoded) == data
