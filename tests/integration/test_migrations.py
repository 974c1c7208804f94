"""Alembic migrations build exactly the schema the code queries (both stores)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from infrastructure.database import create_engine
from infrastructure.migrate import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from infrastructure.tables import metadata
from tests.migrated import replay, upgrade_recording


def _only_ours(obj: Any, name: str | None, type_: str, reflected: bool, _other: Any) -> bool:
    # tx_id and its index exist on PostgreSQL only and are read by raw SQL on purpose.
    return not (name in {"tx_id", "ix_events_feed"} or name == "alembic_version")


def _only_sqlites(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    # The GIN index of the parameters is PostgreSQL's (tables.py creates it only there).
    return name != "ix_backtests_parameters" and _only_ours(obj, name, type_, reflected, other)


@pytest.mark.filterwarnings("ignore:Did not recognize type 'xid8'")
def test_the_migrated_schema_matches_the_tables_module(engine: sa.Engine) -> None:
    include = _only_sqlites if engine.dialect.name == "sqlite" else _only_ours
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include, "compare_type": True}
        )
        assert compare_metadata(context, metadata) == []


def test_upgrading_twice_is_a_no_op(engine: sa.Engine) -> None:
    assert current_revision(engine) == head_revision()
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_the_head_revision_named_in_code_is_the_newest_migration_script() -> None:
    # A new migration must move HEAD_REVISION too, or no CLI command would apply it.
    assert head_revision() == HEAD_REVISION


def test_the_stored_revision_is_read_as_alembic_reads_it(database_url: str) -> None:
    from alembic import command

    engine = create_engine(database_url)
    try:
        assert current_revision(engine) is None  # a database never migrated
        assert upgrade(engine) is True
        assert current_revision(engine) == _alembic_reads(engine) == HEAD_REVISION
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0003")
        assert current_revision(engine) == _alembic_reads(engine) == "0003"
        assert upgrade(engine) is True  # behind the head: upgraded again
        assert current_revision(engine) == HEAD_REVISION
        assert upgrade(engine) is False
    finally:
        engine.dispose()


def _alembic_reads(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_upgrading_from_0005_gives_older_backtests_a_null_experiment_and_their_parameters(
    engine: sa.Engine,
) -> None:
    """0006 adds ``experiment`` and the searchable parameters in SQL: every read gives
    the bytes it gave before plus ``"experiment":null``, and the read models still
    match a rebuild from the log."""
    from alembic import command

    from infrastructure.tables import backtests
    from projections import documents, queries, rebuild, search
    from tests.factories import backtest_document, make_user, record

    alice = make_user(engine)
    ids = [record(engine, alice, backtest_document(seed=s)).backtest_id for s in range(3)]
    page = queries.ListQuery(alice.user_id)
    with engine.connect() as conn:
        listed = documents.list_json(conn, page)
    shown = b"".join(documents.read_document(engine, ids[0], "detail").parts())
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0005")
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("backtests")}
        old_items = conn.execute(sa.text("SELECT list_item FROM backtests")).scalars().all()
    assert not {"experiment", "parameters"} & columns
    assert old_items and all(b"experiment" not in item.encode() for item in old_items)

    assert upgrade(engine) is True
    with engine.connect() as conn:
        assert documents.list_json(conn, page) == listed
        found = search.search_json(conn, search.search_query(
            alice.user_id, where="parameters.fast = 10 and experiment is null"))  # fmt: skip
        stored = conn.execute(sa.select(backtests.c.parameters)).scalars().all()
    assert shown.endswith(b',"experiment":null,"provenance":null}')
    assert found.count(b'"backtest_id"') == 3
    assert stored == [{"fast": 10, "slow": 30}] * 3
    # their rows of a sweep's table come from the log, as every CLI command does it
    assert not rebuild.verify(engine).ok
    assert rebuild.fill_missing_documents(engine) == 3
    assert rebuild.fill_missing_documents(engine) == 0
    assert rebuild.verify(engine).ok
    assert b"".join(documents.read_document(engine, ids[0], "detail").parts()) == shown


def test_the_suites_replayed_migration_builds_alembics_schema(
    database_url: str, another_database_url: str
) -> None:
    """The suite migrates most test databases by replaying what Alembic sent the first
    time (tests/migrated.py): the replay must build the schema Alembic builds, down to
    triggers, storage settings and the stored revision."""
    by_alembic, by_replay = create_engine(database_url), create_engine(another_database_url)
    try:
        replay(by_replay, upgrade_recording(by_alembic))
        assert _schema_of(by_replay) == _schema_of(by_alembic)
        assert current_revision(by_replay) == HEAD_REVISION
    finally:
        by_alembic.dispose()
        by_replay.dispose()


_PG_SCHEMA = {
    "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default"
    " FROM information_schema.columns WHERE table_schema = current_schema()",
    "indexes": "SELECT indexname, replace(indexdef, current_schema() || '.', '')"
    " FROM pg_indexes WHERE schemaname = current_schema()",
    "constraints": "SELECT conname, contype, pg_get_constraintdef(c.oid) FROM pg_constraint c"
    " JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema()",
    "triggers": "SELECT trigger_name, event_manipulation, action_statement"
    " FROM information_schema.triggers WHERE trigger_schema = current_schema()",
    "functions": "SELECT p.proname, p.prosrc FROM pg_proc p"
    " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()",
    "storage": "SELECT c.relname, c.relpersistence, a.attname, a.attstorage"
    " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND a.attnum > 0",
}


def _schema_of(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    queries = (
        {"master": "SELECT type, name, tbl_name, sql FROM sqlite_master"}
        if engine.dialect.name == "sqlite"
        else _PG_SCHEMA
    )
    with engine.connect() as conn:
        found = {
            name: sorted(tuple(row) for row in conn.exec_driver_sql(query))
            for name, query in queries.items()
        }
    assert all(found.values()), found  # every query saw the schema it describes
    return found


def test_upgrading_from_0011_warns_of_the_annualisations_0011_kept_silently(
    engine: sa.Engine,
) -> None:
    """0012 sets every backtest's warnings null, and they are projected again from the
    log: weekly rows recorded at 252 gain the warning 0011's rule did not give."""
    from alembic import command

    from infrastructure.tables import backtest_details
    from projections import rebuild
    from tests.factories import backtest_document, make_user, record

    doc = backtest_document(days=40, trades=0)
    for n, row in enumerate(doc["daily_results"]):
        row["date"] = f"{dt.date(2024, 1, 1) + dt.timedelta(weeks=n)}"
    doc.update(interval="1w", periods_per_year=252)
    backtest_id = record(engine, make_user(engine), doc).backtest_id
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0011")
        conn.execute(backtest_details.update().values(warnings="[]"))  # as 0011 projected it

    assert upgrade(engine) is True
    assert rebuild.fill_missing_documents(engine) == 1
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(backtest_details.c.warnings).where(
                backtest_details.c.backtest_id == backtest_id
            )
        ).scalar_one()
    assert '"/periods_per_year"' in stored and "annualise with 52" in stored
    assert rebuild.verify(engine).ok


def test_upgrading_from_0012_makes_every_metric_cover_the_rows_through_the_last_equity(
    engine: sa.Engine,
) -> None:
    """0013 projects again the backtests whose final equity is null, metrics included,
    and drops their stored significance reports (the others keep theirs); 0016 then
    projects every backtest again, for the figures against a benchmark."""
    from alembic import command

    from infrastructure.tables import backtest_details, backtests, significance_reports
    from projections import rebuild
    from tests.factories import backtest_document, make_user, record

    user = make_user(engine)
    doc = backtest_document(days=40, trades=0)
    for row in doc["daily_results"][30:]:
        row["equity"] = None
    truncated = record(engine, user, doc).backtest_id
    untouched = record(engine, user, backtest_document(days=40, trades=0, seed=2)).backtest_id
    b = backtests.c
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0012")
        # as 0012 stored it: a Sharpe over every known return, its warning, a report
        conn.execute(backtests.update().where(b.backtest_id == truncated).values(sharpe=9.0))
        conn.execute(
            backtest_details.update()
            .where(backtest_details.c.backtest_id == truncated)
            .values(warnings='[{"pointer":"/daily_results/39/equity","message":"the final '
                    'equity is null: total return uses the last known one"}]')
        )  # fmt: skip
        conn.execute(backtests.update().where(b.backtest_id == untouched).values(sharpe=8.0))
        conn.execute(significance_reports.insert().values(
            backtest_id=truncated, inputs_hash="x", report=b"{}",
            computed_at=dt.datetime.now(dt.UTC),
        ))  # fmt: skip

        conn.execute(significance_reports.insert().values(
            backtest_id=untouched, inputs_hash="y", report=b"{}",
            computed_at=dt.datetime.now(dt.UTC),
        ))  # fmt: skip

    assert upgrade(engine) is True
    assert rebuild.fill_missing_documents(engine) == 2  # 0016: every backtest
    with engine.connect() as conn:
        sharpe = dict(conn.execute(sa.select(b.backtest_id, b.sharpe)).all())
        reports = conn.execute(sa.select(significance_reports.c.backtest_id)).scalars().all()
        assert reports == [untouched]  # 0013 dropped the truncated one's report only
    assert sharpe[untouched] != 8.0  # projected again from the log by 0016
    returns = np.diff(np.r_[10_000.0, [r["equity"] for r in doc["daily_results"][:30]]])
    returns /= np.r_[10_000.0, [r["equity"] for r in doc["daily_results"][:29]]]
    assert sharpe[truncated] == pytest.approx(
        returns.mean() / returns.std(ddof=1) * np.sqrt(365), rel=1e-9
    )
