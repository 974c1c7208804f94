"""Request reads on PostgreSQL run in autocommit (no BEGIN/ROLLBACK round trips), and
the pooled connection is a transactional one again for the next writer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from psycopg.pq import TransactionStatus

from infrastructure.database import create_engine, read_connection, write_transaction
from infrastructure.migrate import upgrade
from infrastructure.tables import users


@pytest.fixture
def one_connection(postgres_schema_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(postgres_schema_url, pool_size=1, max_overflow=0)
    upgrade(engine)
    yield engine
    engine.dispose()


def _status(conn: sa.Connection) -> TransactionStatus:
    return conn.connection.driver_connection.info.transaction_status  # type: ignore[union-attr, no-any-return]


def test_a_read_opens_no_transaction_and_a_write_after_it_does(
    one_connection: sa.Engine,
) -> None:
    with read_connection(one_connection) as conn:
        conn.execute(sa.select(users.c.user_id)).all()
        assert _status(conn) is TransactionStatus.IDLE
    with write_transaction(one_connection) as conn:
        conn.execute(sa.select(users.c.user_id)).all()
        assert _status(conn) is TransactionStatus.INTRANS
    with one_connection.connect() as conn:
        conn.execute(sa.select(users.c.user_id)).all()
        assert _status(conn) is TransactionStatus.INTRANS
