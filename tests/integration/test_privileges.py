"""The service can run as a role with only SELECT and INSERT on the log, and that role
cannot alter the log even by switching the triggers off (PostgreSQL)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa

from infrastructure.database import create_engine, write_transaction
from infrastructure.privileges import grant_service_role
from tests.factories import backtest_document, make_user, record

ATTEMPTS = [
    "UPDATE events SET event_type = 'Forged'",
    "DELETE FROM events",
    "TRUNCATE events",
    "ALTER TABLE events DISABLE TRIGGER ALL",
    "SET session_replication_role = replica",
    "DROP TABLE events",
    # a non-owner's GRANT only warns; what matters is that the UPDATE after it fails
    "GRANT UPDATE ON events TO PUBLIC; UPDATE events SET event_type = 'Forged'",
]


@pytest.fixture
def service_url(pg_engine: sa.Engine, postgres_schema_url: str) -> str:
    role = f"btl_service_{uuid.uuid4().hex[:8]}"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        grant_service_role(conn, role)
    return postgres_schema_url.replace("postgres@", f"{role}@", 1)


def test_the_service_role_records_reads_and_deletes(pg_engine: sa.Engine, service_url: str) -> None:
    alice = make_user(pg_engine)  # users are created by an operator, as the owner
    service = create_engine(service_url)
    try:
        recorded = record(service, alice, backtest_document())
        with service.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM backtests")).scalar_one()
        assert count == 1 and recorded.position >= 1
    finally:
        service.dispose()


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_the_service_role_cannot_alter_the_log(
    pg_engine: sa.Engine, service_url: str, attempt: str
) -> None:
    record(pg_engine, make_user(pg_engine), backtest_document())
    service = create_engine(service_url)
    try:
        with pytest.raises(sa.exc.DBAPIError) as caught, write_transaction(service) as conn:
            conn.execute(sa.text(attempt))
        assert (
            isinstance(
                caught.value.orig,
                psycopg.errors.InsufficientPrivilege | psycopg.errors.ObjectNotInPrerequisiteState,
            )
            or "permission denied" in str(caught.value.orig)
            or "must be owner" in str(caught.value.orig)
        )
    finally:
        service.dispose()
    with pg_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one() == 1
        assert (
            conn.execute(sa.text("SELECT event_type FROM events")).scalar_one()
            == "BacktestRecorded"
        )
