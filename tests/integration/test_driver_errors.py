"""psycopg called directly (``fetch_rows``, the append's INSERT, binary COPY) fails the
way SQLAlchemy fails: its errors as SQLAlchemy's, and a connection the server dropped
invalidated with the rest of the pool, so the next request gets a fresh connection
(the service's 503-then-recover behaviour rests on this)."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
import sqlalchemy as sa

from infrastructure.database import bulk_insert, fetch_rows, read_connection
from infrastructure.tables import users
from infrastructure.users import Role, create_user, user_by_key

_ONE_USER = sa.select(users.c.name).where(users.c.name == sa.bindparam("name"))


def _terminate(engine: sa.Engine, backend_pid: int) -> None:
    with engine.connect() as other:
        other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend_pid})


def test_a_dropped_connection_is_an_invalidated_operational_error(pg_engine: sa.Engine) -> None:
    with pg_engine.begin() as conn:
        _, api_key = create_user(conn, "alice", Role.USER)
    with read_connection(pg_engine) as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        pooled_before = pg_engine.pool
        _terminate(pg_engine, pid)
        with pytest.raises(sa.exc.OperationalError) as raised:
            fetch_rows(conn, _ONE_USER, {"name": "alice"})
        assert raised.value.connection_invalidated
        assert isinstance(raised.value.orig, psycopg.OperationalError)
        assert conn.invalidated
    assert pg_engine.pool is not pooled_before  # the pool's other connections let go
    with read_connection(pg_engine) as conn:  # and the next request just works
        user = user_by_key(conn, api_key)
        assert user is not None and user.name == "alice"


def test_a_constraint_broken_by_copy_is_sqlalchemys_integrity_error(
    pg_engine: sa.Engine,
) -> None:
    row = {"user_id": "u1", "name": "bob", "role": "user", "key_hash": "h" * 64,
           "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}  # fmt: skip
    with pg_engine.begin() as conn:
        conn.execute(users.insert(), [row])
    twin = row | {"name": "bob2", "key_hash": "k" * 64}  # the same user_id again
    with pytest.raises(sa.exc.IntegrityError) as raised, pg_engine.begin() as conn:
        bulk_insert(conn, users, list(twin), [list(twin.values())])
    assert isinstance(raised.value.orig, psycopg.errors.UniqueViolation)
    assert not raised.value.connection_invalidated
