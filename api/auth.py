"""Bearer API-key authentication and role guards."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Request
from litestar.concurrency import sync_to_thread
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.rate_limit import RateLimitConfig

from infrastructure.database import read_connection
from infrastructure.users import Role, User, hash_key, user_by_key


def _lookup(engine: sa.Engine, api_key: str) -> User | None:
    with read_connection(engine) as conn:
        return user_by_key(conn, api_key)


class ApiKeyAuthentication(AbstractAuthenticationMiddleware):
    """``Authorization: Bearer <api key>``; a missing, unknown or revoked key is 401."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        scheme, _, api_key = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not api_key.strip():
            raise NotAuthorizedException("an API key is required: Authorization: Bearer <key>")
        engine: sa.Engine = connection.app.state.engine
        # The handlers' own thread pool: anyio's (up to 40 threads) beside it made the
        # threads fight over the GIL, and the trivial route's p99 reached a second.
        user = await sync_to_thread(_lookup, engine, api_key.strip())
        if user is None:
            raise NotAuthorizedException("the API key is not valid")
        return AuthenticationResult(user=user, auth=None)


def rate_limit_identity(request: Request[Any, Any, Any]) -> str:
    """Requests count against their API key (by hash), or their address without one."""
    scheme, _, api_key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and api_key.strip():
        return "key:" + hash_key(api_key.strip())
    return "addr:" + (request.client.host if request.client else "unknown")


def rate_limit(per_minute: int) -> RateLimitConfig | None:
    if per_minute <= 0:
        return None
    return RateLimitConfig(
        rate_limit=("minute", per_minute), identifier_for_request=rate_limit_identity
    )


def requires(*roles: Role) -> Any:
    """A guard letting through only the given roles (403 for the others)."""

    def guard(connection: ASGIConnection[Any, User, Any, Any], _: BaseRouteHandler) -> None:
        if connection.user.role not in roles:
            allowed = " or ".join(role.value for role in roles)
            raise PermissionDeniedException(f"this needs the {allowed} role")

    return guard


def owner_scope(user: User) -> str | None:
    """Whose backtests a reader sees: their own, or everyone's for an auditor."""
    return None if user.role is Role.AUDITOR else user.user_id
