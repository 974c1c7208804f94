"""Bearer API-key authentication and role guards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from litestar import Request
from litestar.concurrency import sync_to_thread
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from api.reads import on_users_database, read_engine
from api.throttle import FailureThrottle, KnownKeys
from infrastructure.database import read_connection
from infrastructure.replicas import ReadRouting
from infrastructure.users import Role, User, hash_key, user_by_key
from projections.versions import backtest_version, caller_and_live_version

T = TypeVar("T")

# The opt of a handler that looks its caller up itself, on the connection it reads
# with (``authenticated_read``): one thread hop and one pooled connection per request
# instead of two, which on the list was a fifth of a request's cost.
AUTHENTICATES_ON_READ = "authenticates_on_read"


KNOWN_KEYS = KnownKeys()  # keys that authenticated: the rate limiter counts per key


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else "unknown"


def authenticate_client(
    connection: ASGIConnection[Any, Any, Any, Any], conn: sa.Connection, api_key: str
) -> User:
    """The user an API key belongs to (401 for an unknown or revoked key), with wrong
    keys counted against the client's address: past the throttle's limit, 429 with
    ``Retry-After`` for any key until the minute is over."""
    return throttled(connection, api_key, lambda: user_by_key(conn, api_key))


def throttled(
    connection: ASGIConnection[Any, Any, Any, Any], api_key: str, lookup: Callable[[], T | None]
) -> T:
    """What ``lookup`` finds for the key (a user, or a user with more), held to the
    throttle of wrong keys: None is a 401 counted against the client's address."""
    throttle: FailureThrottle = connection.app.state.throttle
    address = client_address(connection)
    wait = throttle.retry_after(address)
    if wait is not None:
        raise TooManyRequestsException(
            "too many wrong API keys from this address: retry later",
            headers={"Retry-After": str(wait)},
        )
    found = lookup()
    if found is None:
        throttle.failed(address)
        raise NotAuthorizedException("the API key is not valid")
    KNOWN_KEYS.add(hash_key(api_key))
    return found


def _lookup(connection: ASGIConnection[Any, Any, Any, Any], api_key: str) -> User:
    return on_users_database(
        connection, lambda conn: authenticate_client(connection, conn, api_key)
    )


class ApiKeyAuthentication(AbstractAuthenticationMiddleware):
    """``Authorization: Bearer <api key>``; a missing, unknown or revoked key is 401.

    A handler marked ``AUTHENTICATES_ON_READ`` gets the presented key as
    ``request.auth`` and no user: it must read through ``authenticated_read``."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        scheme, _, api_key = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not api_key.strip():
            raise NotAuthorizedException("an API key is required: Authorization: Bearer <key>")
        if connection.route_handler.opt.get(AUTHENTICATES_ON_READ):
            return AuthenticationResult(user=None, auth=api_key.strip())
        # The handlers' own thread pool: anyio's (up to 40 threads) beside it made the
        # threads fight over the GIL, and the trivial route's p99 reached a second.
        user = await sync_to_thread(_lookup, connection, api_key.strip())
        return AuthenticationResult(user=user, auth=None)


@contextmanager
def authenticated_read(
    connection: ASGIConnection[Any, Any, Any, Any], roles: tuple[Role, ...]
) -> Iterator[tuple[sa.Connection, User]]:
    """For a handler marked ``AUTHENTICATES_ON_READ``: a read connection and the caller,
    looked up on it (401) and held to ``roles`` (403) before anything is read. With
    standbys the read is on one of them and the key is looked up on the primary."""
    routing: ReadRouting = connection.app.state.routing
    if routing.enabled:
        user = _lookup(connection, connection.auth)
        check_role(user, roles)
        with read_connection(read_engine(connection)) as conn:
            yield conn, user
        return
    with read_connection(routing.primary) as conn:
        user = authenticate_client(connection, conn, connection.auth)
        check_role(user, roles)
        yield conn, user


@contextmanager
def authenticated_with(
    connection: ASGIConnection[Any, Any, Any, Any],
    roles: tuple[Role, ...],
    read: Callable[[sa.Connection, str], tuple[User, T] | None],
) -> Iterator[tuple[sa.Connection, User, T | None]]:
    """``authenticated_read`` whose caller ``read`` looks up by the key's hash together
    with what it reads (one round trip), held to the throttle and to ``roles`` before
    what it read is used. With standbys (the key on the primary, the rows on a
    standby): the caller alone, and nothing read (None)."""
    routing: ReadRouting = connection.app.state.routing
    if routing.enabled:
        with authenticated_read(connection, roles) as (conn, user):
            yield conn, user, None
        return
    key_hash = hash_key(connection.auth)
    with read_connection(routing.primary) as conn:
        user, value = throttled(connection, connection.auth, lambda: read(conn, key_hash))
        check_role(user, roles)
        yield conn, user, value


@contextmanager
def authenticated_version(
    connection: ASGIConnection[Any, Any, Any, Any], roles: tuple[Role, ...], backtest_id: str
) -> Iterator[tuple[sa.Connection, User, tuple[str, int]]]:
    """``authenticated_with`` for a conditional read of one live backtest: the caller
    and the backtest's symbol and stream version (401, 403, then 404 for a backtest the
    caller may not read). Written out, not through ``authenticated_with``: on this hot
    path (every kept detail and every 304), with the extra layer the 304 served
    0.75–0.80 times the trivial route's requests in four runs of ``bench/reads.py``,
    0.83–0.86 without it in the three interleaved with them."""
    routing: ReadRouting = connection.app.state.routing
    if routing.enabled:
        with authenticated_read(connection, roles) as (conn, user):
            yield conn, user, backtest_version(conn, backtest_id, owner_scope(user))
        return
    key_hash = hash_key(connection.auth)
    with read_connection(routing.primary) as conn:
        found = throttled(connection, connection.auth,
                          lambda: caller_and_live_version(conn, key_hash, backtest_id))  # fmt: skip
        check_role(found.user, roles)
        yield conn, found.user, found.visible_version(backtest_id, owner_scope(found.user))


def rate_limit_identity(request: Request[Any, Any, Any]) -> str:
    """Requests count against their API key (by hash) once it has authenticated, else
    against their address: made-up keys share their sender's count and add nothing to
    the limiter's memory."""
    scheme, _, api_key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and api_key.strip():
        digest = hash_key(api_key.strip())
        if digest in KNOWN_KEYS:
            return "key:" + digest
    return "addr:" + client_address(request)


def check_role(user: User, roles: tuple[Role, ...]) -> None:
    """403 unless the user has one of ``roles``."""
    if user.role not in roles:
        allowed = " or ".join(role.value for role in roles)
        raise PermissionDeniedException(f"this needs the {allowed} role")


def requires(*roles: Role) -> Any:
    """A guard letting through only the given roles (403 for the others)."""

    def guard(connection: ASGIConnection[Any, User, Any, Any], _: BaseRouteHandler) -> None:
        check_role(connection.user, roles)

    return guard


def owner_scope(user: User) -> str | None:
    """Whose backtests a reader sees: their own, or everyone's for an auditor."""
    return None if user.role is Role.AUDITOR else user.user_id
