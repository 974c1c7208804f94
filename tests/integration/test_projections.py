"""Projections inline and by rebuild, and verification against the log (both stores)."""

from __future__ import annotations

import threading
import zlib
from typing import Any

import pytest
import sqlalchemy as sa

from api.handlers import delete_backtest
from domain.errors import BacktestNotFound
from infrastructure.event_store import ConcurrencyConflict
from infrastructure.tables import LIVE, backtests, events
from projections import queries
from projections.documents import MissingDocument, stream_document
from projections.rebuild import rebuild, verify
from projections.series_parts import decode_part, encode_parts
from tests.factories import backtest_document, make_user, record


def snapshot(engine: sa.Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key))]
            for t in LIVE.tables()
        }


def test_a_recorded_backtest_is_readable_at_once_as_submitted(engine: sa.Engine) -> None:
    alice = make_user(engine)
    doc = backtest_document(days=40, trades=4)
    doc["daily_results"][3]["equity"] = float("nan")
    recorded = record(engine, alice, doc)
    with engine.connect() as conn:
        detail = queries.get_detail(conn, recorded.backtest_id, alice.user_id)
    assert detail.position == recorded.position
    assert detail.symbol == doc["symbol"] and detail.parameters == doc["parameters"]
    assert [d.date.isoformat() for d in detail.daily_results] == [
        d["date"] for d in doc["daily_results"]
    ]
    assert detail.daily_results[3].equity is None
    assert detail.daily_results[5].equity == doc["daily_results"][5]["equity"]
    assert detail.sanitized_fields == ["/daily_results/3/equity"]
    assert [t.pnl for t in detail.trades] == [t["pnl"] for t in doc["trades"]]
    assert [m.month for m in detail.monthly_results] == ["2024-01", "2024-02"]


def test_another_users_backtest_is_not_found(engine: sa.Engine) -> None:
    alice, bob = make_user(engine, "alice"), make_user(engine, "bob")
    recorded = record(engine, alice, backtest_document())
    with engine.connect() as conn, pytest.raises(BacktestNotFound):
        queries.get_detail(conn, recorded.backtest_id, bob.user_id)
    with pytest.raises(BacktestNotFound):
        delete_backtest(engine, bob, recorded.backtest_id)


def test_the_list_is_newest_first_filtered_and_keyset_paged(engine: sa.Engine) -> None:
    alice = make_user(engine)
    ids = [
        record(
            engine, alice, backtest_document(symbol="ETH" if i % 2 else "BTC", seed=i)
        ).backtest_id
        for i in range(7)
    ]
    with engine.connect() as conn:
        pages, cursor = [], None
        while True:
            page = queries.list_backtests(
                conn, queries.ListQuery(alice.user_id, limit=3, cursor=cursor)
            )
            pages.append([item.backtest_id for item in page.items])
            cursor = page.next_cursor
            if cursor is None:
                break
        eth = queries.list_backtests(conn, queries.ListQuery(alice.user_id, symbol="ETH"))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == ids[::-1]
    assert [i.backtest_id for i in eth.items] == [ids[5], ids[3], ids[1]]


def test_a_deleted_backtest_leaves_the_list_but_not_the_log(engine: sa.Engine) -> None:
    alice = make_user(engine)
    kept = record(engine, alice, backtest_document(seed=1))
    gone = record(engine, alice, backtest_document(seed=2))
    delete_backtest(engine, alice, gone.backtest_id)
    with pytest.raises(BacktestNotFound):
        delete_backtest(engine, alice, gone.backtest_id)
    with engine.connect() as conn:
        listed = queries.list_backtests(conn, queries.ListQuery(alice.user_id)).items
        types = conn.execute(sa.select(events.c.event_type).order_by(events.c.position)).all()
        row = conn.execute(
            sa.select(backtests.c.deleted_position).where(
                backtests.c.backtest_id == gone.backtest_id
            )
        ).scalar_one()
    assert [i.backtest_id for i in listed] == [kept.backtest_id]
    assert [t for (t,) in types] == ["BacktestRecorded", "BacktestRecorded", "BacktestDeleted"]
    assert row == 3


def test_two_racing_deletes_append_exactly_one_event(engine: sa.Engine) -> None:
    alice = make_user(engine)
    target = record(engine, alice, backtest_document()).backtest_id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            delete_backtest(engine, alice, target)
            outcomes.append("deleted")
        except (ConcurrencyConflict, BacktestNotFound) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.connect() as conn:
        deletions = conn.execute(
            sa.select(sa.func.count()).where(events.c.event_type == "BacktestDeleted")
        ).scalar_one()
    assert sorted(outcomes)[-1] == "deleted" and outcomes.count("deleted") == 1
    assert deletions == 1


def test_a_rebuild_reproduces_the_inline_read_models_exactly(engine: sa.Engine) -> None:
    alice, bob = make_user(engine, "alice"), make_user(engine, "bob")
    for i in range(4):
        record(engine, alice, backtest_document(seed=i, trades=i))
    doomed = record(engine, bob, backtest_document(seed=9)).backtest_id
    delete_backtest(engine, bob, doomed)
    before = snapshot(engine)
    assert rebuild(engine).replayed == 6
    assert snapshot(engine) == before
    assert verify(engine).ok


def analyzed_tables(engine: sa.Engine) -> set[str]:
    """The tables the planner has statistics for (PostgreSQL's ``pg_stats``, SQLite's
    ``sqlite_stat1``): only ANALYZE, or autovacuum's, puts them there."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = "SELECT tablename FROM pg_stats WHERE schemaname = current_schema()"
        elif sa.inspect(conn).has_table("sqlite_stat1"):  # made by the first ANALYZE
            query = "SELECT tbl FROM sqlite_stat1"
        else:
            return set()
        return set(conn.execute(sa.text(query)).scalars())


def test_a_rebuild_leaves_the_fresh_read_models_analyzed(engine: sa.Engine) -> None:
    alice = make_user(engine)
    for i in range(3):
        record(engine, alice, backtest_document(seed=i, trades=2))
    # three rows each: under autovacuum's threshold, so no one else analyzes them
    assert not {"backtests", "backtest_details"} & analyzed_tables(engine)
    rebuild(engine)
    assert {t.name for t in LIVE.tables()} <= analyzed_tables(engine)


def test_verify_names_the_backtest_whose_read_model_was_altered(engine: sa.Engine) -> None:
    alice = make_user(engine)
    record(engine, alice, backtest_document(seed=1))
    victim = record(engine, alice, backtest_document(seed=2)).backtest_id
    assert verify(engine).ok
    series = LIVE.series
    where = (series.c.backtest_id == victim, series.c.kind == "daily", series.c.part_no == 0)
    with engine.begin() as conn:
        part = decode_part(
            "daily", conn.execute(sa.select(series.c.body).where(*where)).scalar_one()
        )
        part["equity"][7] += 0.01
        (body,) = encode_parts("daily", part)
        conn.execute(series.update().where(*where).values(body=body))
    report = verify(engine)
    assert not report.ok
    assert [(m.backtest_id, m.table) for m in report.mismatches] == [(victim, "backtest_series")]
    rebuild(engine)
    assert verify(engine).ok


def test_verify_notices_a_missing_summary_row(engine: sa.Engine) -> None:
    alice = make_user(engine)
    victim = record(engine, alice, backtest_document()).backtest_id
    with engine.begin() as conn:
        conn.execute(backtests.delete().where(backtests.c.backtest_id == victim))
    report = verify(engine)
    assert [(m.backtest_id, m.table) for m in report.mismatches] == [(victim, "backtests")]


def test_verify_names_a_stored_csv_part_that_differs_from_the_log(engine: sa.Engine) -> None:
    alice = make_user(engine)
    victim = record(engine, alice, backtest_document(seed=3, trades=4)).backtest_id
    csv = LIVE.documents
    where = (csv.c.backtest_id == victim, csv.c.kind == "trades")
    with engine.begin() as conn:
        text = zlib.decompress(conn.execute(sa.select(csv.c.body).where(*where)).scalar_one())
        altered = zlib.compress(text.replace(b"long", b"shrt"))
        conn.execute(csv.update().where(*where).values(body=altered))
    report = verify(engine)
    assert [(m.backtest_id, m.table) for m in report.mismatches] == [(victim, "backtest_documents")]
    rebuild(engine)
    assert verify(engine).ok


def test_a_download_without_its_stored_parts_is_an_error_not_an_empty_file(
    engine: sa.Engine,
) -> None:
    alice = make_user(engine)
    victim = record(engine, alice, backtest_document()).backtest_id
    with engine.begin() as conn:
        conn.execute(LIVE.documents.delete().where(LIVE.documents.c.backtest_id == victim))
    with pytest.raises(MissingDocument, match="projections rebuild"):
        b"".join(stream_document(engine, victim, "trades"))
    with engine.begin() as conn:
        conn.execute(LIVE.series.delete().where(LIVE.series.c.backtest_id == victim))
    for kind in ("daily", "monthly", "detail"):
        with pytest.raises(MissingDocument, match="projections rebuild"):
            b"".join(stream_document(engine, victim, kind))  # type: ignore[arg-type]
