"""Which database a request reads from, and the token a write answers with.

A read brings the token of the write it must see in the ``Ledger-Consistency`` header,
or as ``?consistency=`` (a browser link); a page brings the one its session kept from
the signed-in user's last write. ``ReadRouting`` then picks a standby that has
replayed past it, or the primary. Writes go to the primary (``state.engine``) and
answer ``Ledger-Consistency`` once committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from litestar.connection import ASGIConnection

from infrastructure.database import read_connection
from infrastructure.replicas import ReadRouting, parse_token

T = TypeVar("T")

HEADER = "Ledger-Consistency"
SESSION_KEY = "consistency"


def token_of(connection: ASGIConnection[Any, Any, Any, Any]) -> int | None:
    """The consistency token a request brings, if any (``BadToken``: 400)."""
    text = connection.headers.get(HEADER) or connection.query_params.get("consistency")
    session = connection.scope.get("session")
    if not text and isinstance(session, dict):
        text = session.get(SESSION_KEY)
    return parse_token(text) if text else None


def read_engine(connection: ASGIConnection[Any, Any, Any, Any]) -> sa.Engine:
    """The engine this request reads from: a fresh enough standby, or the primary."""
    routing: ReadRouting = connection.app.state.routing
    if not routing.enabled:
        return routing.primary
    return routing.reader(token_of(connection))


def on_users_database(
    connection: ASGIConnection[Any, Any, Any, Any], read: Callable[[sa.Connection], T]
) -> T:
    """``read`` of users and keys, on the primary (a revoked key must not open a standby
    that has not replayed the revocation yet); on a standby only while the primary does
    not answer, so that reads carry on through its outage."""
    routing: ReadRouting = connection.app.state.routing
    try:
        with read_connection(routing.primary) as conn:
            return read(conn)
    except sa.exc.OperationalError:
        standby = routing.reader()  # the primary when there is no standby to go to
        if standby is routing.primary:
            raise
        with read_connection(standby) as conn:
            return read(conn)


def written(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, str]:
    """The headers of a committed write: its consistency token (none without
    standbys), also kept in the session of a signed-in page user."""
    routing: ReadRouting = connection.app.state.routing
    token = routing.token_after_commit()
    if token is None:
        return {}
    session = connection.scope.get("session")
    if isinstance(session, dict) and session:
        session[SESSION_KEY] = token
    return {HEADER: token}
