"""Over HTTPS the service's cookies are ``Secure`` and carry the ``__Host-`` prefix (a
browser then takes them only from this host, over HTTPS, for path /, set by no
subdomain); over plain HTTP, as on a developer's machine, they are plain.

The app inside always sees the plain names (``btl_session``, ``btl_csrf``): this
middleware renames the cookies a request carries and the ones a response sets. A
request is over HTTPS when its ASGI scheme says so — which behind a reverse proxy
uvicorn sets from ``X-Forwarded-Proto`` only for ``BACKTEST_LEDGER_TRUSTED_PROXIES``
(``serving``) — or always with ``BACKTEST_LEDGER_SECURE_COOKIES=1``. Over HTTPS a plain
``btl_`` cookie is dropped: it could have been planted over HTTP or by a subdomain.
"""

from __future__ import annotations

from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "__Host-"
OURS = "btl_"


def _is_https(scope: Scope, always: bool) -> bool:
    return always or scope.get("scheme") == "https"


def _incoming(header: bytes, https: bool) -> bytes:
    """The Cookie header the app sees: over HTTPS the prefixed cookies renamed plain and
    plain ones of ours dropped; over HTTP prefixed ones dropped."""
    kept = []
    for pair in header.split(b";"):
        name = pair.split(b"=", 1)[0].strip().decode("latin-1")
        if name.startswith(PREFIX + OURS):
            if https:
                kept.append(pair.strip()[len(PREFIX) :])
        elif not (https and name.startswith(OURS)):
            kept.append(pair.strip())
    return b"; ".join(kept)


def _outgoing(value: bytes) -> bytes:
    """A Set-Cookie of ours, prefixed and Secure."""
    if not value.startswith(OURS.encode()):
        return value
    secure = b"; secure" in value.lower()
    return PREFIX.encode() + value + (b"" if secure else b"; Secure")


def https_cookies(always: bool) -> Callable[[ASGIApp], ASGIApp]:
    """The middleware, with ``always`` the ``SECURE_COOKIES`` setting."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            https = _is_https(scope, always)
            headers = [
                (name, _incoming(value, https) if name == b"cookie" else value)
                for name, value in scope["headers"]
            ]
            scope["headers"] = headers

            async def send_renamed(message: Message) -> None:
                if https and message["type"] == "http.response.start":
                    message["headers"] = [
                        (name, _outgoing(value) if name == b"set-cookie" else value)
                        for name, value in message.get("headers", [])
                    ]
                await send(message)

            await app(scope, receive, send_renamed)

        return middleware

    return factory
