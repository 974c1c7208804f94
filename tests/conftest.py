"""Fixtures: every store-level test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from infrastructure.database import create_engine
from infrastructure.migrate import upgrade
from tests.postgres_server import ThrowawayCluster, answers, configured_url, libpq_dsn

STORES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server URL: the configured one, or a throwaway cluster."""
    url = configured_url()
    if answers(url):
        yield url
        return
    try:
        cluster = ThrowawayCluster()
        url = cluster.start()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"no PostgreSQL for the suite under CI: {exc}")
        pytest.skip(f"no PostgreSQL available: {exc}")
    try:
        yield url
    finally:
        cluster.stop()


def _schema_url(server_url: str, schema: str) -> str:
    return f"{server_url}?options=-csearch_path%3D{schema}"


@pytest.fixture
def postgres_schema_url(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[str]:
    """A URL whose connections work in a fresh schema of their own, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_dsn(postgres_url), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _schema_url(postgres_url, schema)
    finally:
        with psycopg.connect(libpq_dsn(postgres_url), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each store in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """A migrated database on each store in turn."""
    engine = create_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(postgres_schema_url: str) -> Iterator[sa.Engine]:
    """A migrated PostgreSQL database, for PostgreSQL-only behaviour."""
    engine = create_engine(postgres_schema_url, pool_size=12)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def another_engine(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[sa.Engine]:
    """A second, empty, migrated database on the same store as ``engine``."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'another.sqlite3'}"
        schema = None
    else:
        server = request.getfixturevalue("postgres_url")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(libpq_dsn(server), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        url = _schema_url(server, schema)
    engine = create_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    if schema is not None:
        with psycopg.connect(libpq_dsn(request.getfixturevalue("postgres_url")),
                             autocommit=True) as conn:  # fmt: skip
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
