"""The list and the detail as they stood at a past position or time (both stores)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from api.handlers import delete_backtest
from domain.errors import BacktestNotFound
from infrastructure.event_store import UnknownPosition
from infrastructure.tables import events
from projections.queries import AsOf, BadAsOf, ListQuery, get_detail, list_backtests, parse_as_of
from tests.factories import backtest_document, make_user, record


def ids(engine: sa.Engine, owner: str, as_of: AsOf | None) -> list[str]:
    with engine.connect() as conn:
        return [i.backtest_id for i in list_backtests(conn, ListQuery(owner, as_of=as_of)).items]


def test_the_list_as_of_each_position_replays_history(engine: sa.Engine) -> None:
    alice = make_user(engine)
    a = record(engine, alice, backtest_document(seed=1))
    b = record(engine, alice, backtest_document(seed=2))
    delete_backtest(engine, alice, a.backtest_id)
    c = record(engine, alice, backtest_document(seed=3))
    with engine.connect() as conn:
        order = "tx_id, position" if conn.dialect.name == "postgresql" else "position"
        positions = conn.execute(sa.text(f"SELECT position FROM events ORDER BY {order}")).scalars()
        p1, p2, p3, p4 = list(positions)
    expected = {
        p1: [a.backtest_id],
        p2: [b.backtest_id, a.backtest_id],
        p3: [b.backtest_id],
        p4: [c.backtest_id, b.backtest_id],
    }
    for position, listed in expected.items():
        assert ids(engine, alice.user_id, AsOf(position=position)) == listed, position
    assert ids(engine, alice.user_id, None) == expected[p4]


def test_the_list_as_of_a_time(engine: sa.Engine) -> None:
    alice = make_user(engine)
    a = record(engine, alice, backtest_document(seed=1))
    delete_backtest(engine, alice, a.backtest_id)
    with engine.connect() as conn:
        times = conn.execute(sa.select(events.c.recorded_at).order_by(events.c.position)).scalars()
        recorded, deleted = [t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in times]
    tick = dt.timedelta(microseconds=1)
    assert ids(engine, alice.user_id, AsOf(time=recorded - tick)) == []
    assert ids(engine, alice.user_id, AsOf(time=recorded)) == [a.backtest_id]
    assert ids(engine, alice.user_id, AsOf(time=deleted - tick)) == [a.backtest_id]
    assert ids(engine, alice.user_id, AsOf(time=deleted)) == []


def test_a_deleted_backtests_detail_is_readable_as_of_before_its_deletion(
    engine: sa.Engine,
) -> None:
    alice = make_user(engine)
    doc = backtest_document(seed=5, days=12)
    a = record(engine, alice, doc)
    delete_backtest(engine, alice, a.backtest_id)
    with engine.connect() as conn:
        then = get_detail(conn, a.backtest_id, alice.user_id, AsOf(position=a.position))
        assert [d.equity for d in then.daily_results] == [d["equity"] for d in doc["daily_results"]]
        with pytest.raises(BacktestNotFound):
            get_detail(conn, a.backtest_id, alice.user_id)
        with pytest.raises(BacktestNotFound):
            get_detail(conn, a.backtest_id, alice.user_id, AsOf(position=a.position + 1))
        with pytest.raises(UnknownPosition):
            list_backtests(conn, ListQuery(alice.user_id, as_of=AsOf(position=999)))


@pytest.mark.parametrize("text", ["yesterday", "2026-01-31T00:00:00", "position:", "position:-1"])
def test_unreadable_as_of_values_are_refused(text: str) -> None:
    with pytest.raises(BadAsOf):
        parse_as_of(text)


def test_as_of_accepts_times_with_offsets_and_positions() -> None:
    assert parse_as_of("position:12") == AsOf(position=12)
    assert parse_as_of("2026-01-31T02:00:00+02:00") == AsOf(
        time=dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    )
    assert parse_as_of("2026-01-31T00:00:00Z").time == dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
