"""Idempotency keys: a repeated command with the same key and body gets the first answer.

``claim`` runs first in the command's transaction. On PostgreSQL a concurrent claim
of the same key waits on the primary key until the first transaction ends, then
sees its row; on SQLite writers are serialised anyway. So of any number of racing
requests with one key, exactly one does the work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from infrastructure.tables import idempotency_keys


class IdempotencyKeyReused(Exception):
    """The key was already used by this user for a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used with a different request")
        self.key = key


@dataclass(frozen=True)
class PriorAnswer:
    response: bytes


def request_hash(body: bytes | bytearray, target: str = "") -> str:
    """What a key's request is held to: its body, and for a route that acts on one
    resource (an exclusion of one backtest) which one."""
    if not target:
        return hashlib.sha256(body).hexdigest()
    return hashlib.sha256(target.encode() + b"\0" + body).hexdigest()


def claim(conn: sa.Connection, user_id: str, key: str, body_hash: str) -> PriorAnswer | None:
    """Claim the key for this request; return the first answer if it was used before
    with the same request, raise ``IdempotencyKeyReused`` if with another."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    inserted = conn.execute(
        dialect_insert(idempotency_keys)
        .values(
            user_id=user_id,
            key=key,
            request_hash=body_hash,
            response=None,
            created_at=dt.datetime.now(dt.UTC),
        )
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.key)
    ).first()
    if inserted is not None:
        return None
    row = conn.execute(
        sa.select(idempotency_keys.c.request_hash, idempotency_keys.c.response).where(
            idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key
        )
    ).one()
    if row.request_hash != body_hash or row.response is None:
        raise IdempotencyKeyReused(key)
    return PriorAnswer(bytes(row.response))


def remember(conn: sa.Connection, user_id: str, key: str, response: bytes) -> None:
    """Store the answer given to the request that claimed the key."""
    conn.execute(
        idempotency_keys.update()
        .where(idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key)
        .values(response=response)
    )
