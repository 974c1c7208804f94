"""Headers every response carries, so that a browser treats the service's answers as
what they are: no content sniffing, no referrer sent off the site, no caching of what
a key or a session opened, and for the pages a Content-Security-Policy that runs no
script at all and lets no other site frame them."""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
# The pages use no script; inline style attributes colour the heatmaps and legends.
PAGE_POLICY = (
    b"default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    b"frame-ancestors 'none'"
)
CACHEABLE = ("/static/", "/schema")  # the same bytes for everyone: the browser may keep them


def security_headers(app: ASGIApp) -> ASGIApp:
    """Middleware adding the headers above to every HTTP response."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in ALWAYS if h[0] not in names]
                if not path.startswith(CACHEABLE) and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html") and not path.startswith("/schema"):
                    headers.append((b"content-security-policy", PAGE_POLICY))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
