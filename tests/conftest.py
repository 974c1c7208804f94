"""Fixtures: every store-level test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from infrastructure.database import create_engine
from tests.migrated import migrate
from tests.postgres_server import ThrowawayCluster, answers, configured_url, libpq_dsn

# numba comes only with vectorbt, a test extra (the service never runs it): vectorbt's
# kernels run as the Python they are written in, a mode vectorbt supports, with the same
# arithmetic in the same order (figures equal to the compiled ones' to about 1e-15) and
# without compiling them first, which cost 10 s a process, 25-70 s on a fresh machine.
# Set before anything imports numba; the examples' processes inherit it.
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")
# The apps and servers of the suite run no analysis worker unless a test asks for one
# (``analysing_api``, or the setting passed to a served process): a thousand apps each
# polling the queue would cost the suite time and tell it nothing.
os.environ.setdefault("BACKTEST_LEDGER_ANALYSIS_WORKERS", "0")

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


@pytest.fixture(scope="session")
def private_postgres_url() -> Iterator[str]:
    """A throwaway cluster of this test process's own, for the tests marked ``feed``:
    the feed rightly holds back every event newer than the oldest transaction open
    anywhere on a server, so a test of its exact release cannot share a busy one (another
    suite, another xdist worker, or ``a_busy_neighbour``)."""
    try:
        cluster = ThrowawayCluster()
        url = cluster.start()
    except Exception as exc:
        pytest.fail(f"the feed's tests need a PostgreSQL cluster of their own: {exc}")
    try:
        yield url
    finally:
        cluster.stop()


NEIGHBOUR_DATABASE = "postgres"


@pytest.fixture(scope="session", autouse=True)
def a_busy_neighbour() -> Iterator[None]:
    """A transaction held open on another database of the shared server for the whole
    run, as on a server that also serves other work: the suite must stay green under it
    (the feed holds back everything newer, which the tests marked ``feed`` avoid by
    running on a cluster of their own)."""
    url = configured_url()
    if not answers(url):
        yield  # the suite's own throwaway cluster has no neighbours
        return
    neighbour = libpq_dsn(url).rsplit("/", 1)[0] + "/" + NEIGHBOUR_DATABASE
    with psycopg.connect(neighbour) as conn:
        conn.execute("SELECT pg_current_xact_id()")  # an xid: it holds back the feed
        yield
        conn.rollback()


def _server_url(request: pytest.FixtureRequest) -> str:
    feed = request.node.get_closest_marker("feed") is not None
    return str(request.getfixturevalue("private_postgres_url" if feed else "postgres_url"))


def _schema_url(server_url: str, schema: str) -> str:
    return f"{server_url}?options=-csearch_path%3D{schema}"


@contextmanager
def _fresh_schema(server_url: str) -> Iterator[str]:
    """A URL whose connections work in a new schema of the server, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_dsn(server_url), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _schema_url(server_url, schema)
    finally:
        with psycopg.connect(libpq_dsn(server_url), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def postgres_schema_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL whose connections work in a fresh schema of their own, dropped afterwards:
    on the shared server, or for a test marked ``feed`` on a cluster of its own."""
    with _fresh_schema(_server_url(request)) as url:
        yield url


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each store in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@contextmanager
def store_url(store: str, request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    """An empty database on ``store``, for a fixture of a wider scope than a test's."""
    if store == "sqlite":
        yield f"sqlite:///{directory / 'ledger.sqlite3'}"
    else:
        with _fresh_schema(_server_url(request)) as url:
            yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """A migrated database on each store in turn."""
    engine = create_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(postgres_schema_url: str) -> Iterator[sa.Engine]:
    """A migrated PostgreSQL database, for PostgreSQL-only behaviour."""
    engine = create_engine(postgres_schema_url, pool_size=12)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def another_database_url(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[str]:
    """A second, empty database on the same store as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'another.sqlite3'}"
        return
    with _fresh_schema(_server_url(request)) as url:
        yield url


@pytest.fixture
def another_engine(another_database_url: str) -> Iterator[sa.Engine]:
    """A second, empty, migrated database on the same store as ``engine``."""
    engine = create_engine(another_database_url)
    migrate(engine)
    yield engine
    engine.dispose()
