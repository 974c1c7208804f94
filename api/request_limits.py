"""Requests per minute per API key (or, before a key has authenticated, per client
address), counted across every node and worker through the database
(``SharedWindows``): past ``per_minute``, 429 with ``Retry-After`` until the minute
is over. Each answer carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset``."""

from __future__ import annotations

from collections.abc import Callable

from litestar.concurrency import sync_to_thread
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import rate_limit_identity
from infrastructure.rate_windows import SharedWindows

SCOPE = "api"


def request_limit(per_minute: int, windows: SharedWindows) -> Callable[[ASGIApp], ASGIApp]:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            identity = rate_limit_identity(ASGIConnection(scope))  # type: ignore[arg-type]
            if windows.known(SCOPE, identity):
                count = windows.hit(SCOPE, identity)  # counted in memory
            else:  # its first request this minute: the database's count first
                count = await sync_to_thread(windows.hit, SCOPE, identity)
            reset = str(windows.seconds_left())
            headers = {"RateLimit-Limit": str(per_minute),
                       "RateLimit-Remaining": str(max(0, per_minute - count)),
                       "RateLimit-Reset": reset}  # fmt: skip
            if count > per_minute:
                raise TooManyRequestsException(
                    f"more than {per_minute} requests this minute", headers=headers
                )

            async def send_counted(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [
                        *message.get("headers", []),
                        *((k.lower().encode(), v.encode()) for k, v in headers.items()),
                    ]
                await send(message)

            await app(scope, receive, send_counted)

        return middleware

    return factory
