"""Cross-site request forgery: the pages' state-changing forms (sign in, sign out,
delete) are refused unless they come from this service's own pages.

Two checks, either of which stops a forged form: a request whose ``Sec-Fetch-Site``
or ``Origin`` says another site or origin sent it (``Origin: null`` included) is a
403 before anything runs; and every form carries a signed token that must match the
HttpOnly cookie this service set (Litestar's double-submit ``CSRFConfig``), so that a
browser that sends neither header is covered too. ``SameSite=Lax`` alone works per
site, not per origin, and let a cross-origin POST through. The API (``/api/``) is
authenticated by a bearer key that a browser never attaches by itself: no token there.
"""

from __future__ import annotations

import hashlib
import urllib.parse

from litestar.config.csrf import CSRFConfig
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UNGUARDED = ("/api/", "/health", "/schema")
SAME_SITE_FETCHES = frozenset({b"same-origin", b"none"})


def csrf_config(session_secret: bytes) -> CSRFConfig:
    """The signed double-submit token of every page form (its cookie ``__Host-`` and
    Secure over HTTPS: see ``https_cookies``)."""
    return CSRFConfig(
        secret=hashlib.sha256(b"csrf:" + session_secret).hexdigest(),
        cookie_name="btl_csrf",
        cookie_httponly=True,
        cookie_samesite="lax",
        exclude=[f"^{path}" for path in UNGUARDED],
    )


def _foreign(headers: dict[bytes, bytes]) -> str | None:
    """Why a request did not come from this service's own pages, or None."""
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in SAME_SITE_FETCHES:
        return f"sent from another site (Sec-Fetch-Site: {fetch_site.decode('latin-1')})"
    origin = headers.get(b"origin")
    if origin is not None:
        host = headers.get(b"host", b"").decode("latin-1").lower()
        netloc = urllib.parse.urlsplit(origin.decode("latin-1")).netloc.lower()
        if not netloc or netloc != host:
            return f"sent from another origin (Origin: {origin.decode('latin-1')[:100]})"
    return None


def same_origin_only(app: ASGIApp) -> ASGIApp:
    """Middleware refusing, with 403, a state-changing page request from elsewhere."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == ScopeType.HTTP
            and scope["method"] not in SAFE_METHODS
            and not scope["path"].startswith(UNGUARDED)
        ):
            reason = _foreign(dict(scope["headers"]))
            if reason is not None:
                raise PermissionDeniedException(f"refused: {reason}")
        await app(scope, receive, send)

    return middleware
