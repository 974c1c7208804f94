"""The ``Allow`` header of an OPTIONS answer, listing every method of the resource.

Litestar 2 builds a path's OPTIONS handler from the first handler registered on it,
so ``OPTIONS /api/v1/backtests/{id}`` said ``GET, OPTIONS`` where DELETE is allowed
too (fixed in Litestar 3). The app's routes know every method of each path: they are
recorded at start-up, and this middleware answers with them.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def allow_header(app: ASGIApp) -> ASGIApp:
    """Middleware correcting ``Allow`` on the answers to OPTIONS."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "OPTIONS":
            await app(scope, receive, send)
            return
        methods: dict[str, list[str]] = scope["app"].state.allowed_methods
        allowed = methods.get(scope.get("path_template", ""), [])

        async def send_allowed(message: Message) -> None:
            if message["type"] == "http.response.start" and allowed:
                headers: list[Any] = [
                    (n, v) for n, v in message.get("headers", []) if n.lower() != b"allow"
                ]
                headers.append((b"allow", ", ".join(allowed).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_allowed)

    return middleware


def record_allowed_methods(app: Litestar) -> None:
    """At start-up: every route's methods, by its path template."""
    app.state.allowed_methods = {
        route.path_format: sorted(route.methods)
        for route in app.routes
        if isinstance(route, HTTPRoute)
    }
