"""Users and their API keys. A key is shown once at creation; only its hash is kept.

Keys are 256-bit random tokens, so a plain SHA-256 is a sound one-way hash for them
(no dictionary to guard against, unlike passwords).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from infrastructure.database import fetch_rows
from infrastructure.tables import users


class Role(StrEnum):
    USER = "user"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    role: Role


class UserExists(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"a user named {name!r} already exists")


class UserNotFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"no user named {name!r}")


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_user(conn: sa.Connection, name: str, role: Role) -> tuple[User, str]:
    """Create a user; return it with its API key (the only time the key is seen)."""
    if conn.execute(sa.select(users.c.user_id).where(users.c.name == name)).first():
        raise UserExists(name)
    api_key = _new_key()
    user = User(user_id=str(uuid.uuid4()), name=name, role=role)
    conn.execute(
        users.insert().values(
            user_id=user.user_id,
            name=name,
            role=role.value,
            key_hash=hash_key(api_key),
            created_at=dt.datetime.now(dt.UTC),
        )
    )
    return user, api_key


def revoke_user(conn: sa.Connection, name: str) -> User:
    """Revoke a user's key: it stops working at once, sessions signed in with it too."""
    user = user_by_name(conn, name)
    conn.execute(
        users.update()
        .where(users.c.user_id == user.user_id)
        .values(revoked_at=dt.datetime.now(dt.UTC), session_epoch=users.c.session_epoch + 1)
    )
    return user


def end_sessions(conn: sa.Connection, user_id: str) -> None:
    """End every browser session of a user (signing out): their epoch moves on."""
    conn.execute(
        users.update()
        .where(users.c.user_id == user_id)
        .values(session_epoch=users.c.session_epoch + 1)
    )


def rotate_key(conn: sa.Connection, name: str) -> tuple[User, str]:
    """Give an active user a new key; the old one stops working at once."""
    user = user_by_name(conn, name)
    api_key = _new_key()
    conn.execute(
        users.update().where(users.c.user_id == user.user_id).values(key_hash=hash_key(api_key))
    )
    return user, api_key


def _new_key() -> str:
    return "btl_" + secrets.token_urlsafe(32)


USER_COLUMNS = (users.c.user_id, users.c.name, users.c.role)
# The row of the active user holding the key hash bound as ``key_hash``.
ACTIVE_KEY = sa.and_(users.c.key_hash == sa.bindparam("key_hash"), users.c.revoked_at.is_(None))


def user_of(row: Any) -> User:
    """A user from a row of ``USER_COLUMNS`` (a SQLAlchemy row or a plain tuple)."""
    user_id, name, role = row
    return User(user_id=user_id, name=name, role=Role(role))


def user_by_name(conn: sa.Connection, name: str) -> User:
    row = conn.execute(
        sa.select(*USER_COLUMNS).where(users.c.name == name, users.c.revoked_at.is_(None))
    ).first()
    if row is None:
        raise UserNotFound(name)
    return user_of(row)


def user_by_key(conn: sa.Connection, api_key: str) -> User | None:
    """The active user holding this key, or None. The lookup is by hash, so no secret
    is ever compared byte by byte."""
    return user_by_key_hash(conn, hash_key(api_key))


# Built once: every authenticated request runs it, and building it cost more than
# running it.
_BY_KEY_HASH = sa.select(*USER_COLUMNS).where(ACTIVE_KEY)


def user_by_key_hash(conn: sa.Connection, key_hash: str) -> User | None:
    """The active user whose key has this hash (what a signed-in session remembers).

    Fetched through ``fetch_rows``: every authenticated request runs this lookup, and
    SQLAlchemy's per-execution work was half of its client time."""
    rows = fetch_rows(conn, _BY_KEY_HASH, {"key_hash": key_hash})
    return user_of(rows[0]) if rows else None


_SESSION_OF = sa.select(*USER_COLUMNS, users.c.session_epoch).where(ACTIVE_KEY)


def session_user(conn: sa.Connection, key_hash: str) -> tuple[User, int] | None:
    """The active user a session's key hash names, with their current session epoch."""
    rows = fetch_rows(conn, _SESSION_OF, {"key_hash": key_hash})
    if not rows:
        return None
    user_id, name, role, epoch = rows[0]
    return user_of((user_id, name, role)), int(epoch)
