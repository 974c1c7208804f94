"""A rebuild while the service takes writes and serves reads (PostgreSQL): readers
never see an empty or partial list, and no event appended meanwhile is lost."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from api.handlers import delete_backtest
from projections.queries import ListQuery, list_backtests
from projections.rebuild import rebuild, verify
from tests.factories import backtest_document, make_user, record


def test_rebuild_while_writing_and_reading_loses_nothing(pg_engine: sa.Engine) -> None:
    alice = make_user(pg_engine)
    initial = [record(pg_engine, alice, backtest_document(seed=i, days=60)) for i in range(60)]
    delete_backtest(pg_engine, alice, initial[0].backtest_id)
    floor = len(initial) - 1
    stop = threading.Event()
    written: list[str] = []
    smallest_list: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            seed = 1000
            while not stop.is_set():
                written.append(record(pg_engine, alice, backtest_document(seed=seed)).backtest_id)
                seed += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                with pg_engine.connect() as conn:
                    page = list_backtests(conn, ListQuery(alice.user_id, limit=500))
                smallest_list.append(len(page.items))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    replayed = rebuild(pg_engine).replayed
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()

    assert errors == []
    assert written, "the writer made no progress during the rebuild"
    assert min(smallest_list) >= floor
    assert replayed >= len(initial) + 1
    with pg_engine.connect() as conn:
        listed = {
            i.backtest_id for i in list_backtests(conn, ListQuery(alice.user_id, limit=500)).items
        }
    assert listed == {r.backtest_id for r in initial[1:]} | set(written)
    assert verify(pg_engine).ok
