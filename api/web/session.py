"""Browser sessions: sign in with an API key, get a signed, encrypted, HttpOnly,
SameSite=Lax cookie that remembers the key's hash (so revoking the key ends it), the
user's session epoch (so signing out ends it on the server, copies of the cookie
included) and when it began (so it ends after an absolute lifetime however busy)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig

from api.reads import on_users_database
from infrastructure.service_secret import service_secret
from infrastructure.settings import Settings
from infrastructure.users import User, session_user

SESSION_HOURS = 8  # idle: every response renews the cookie for this long


class TolerantCookieBackend(ClientSideSessionBackend):
    """Litestar's sealed-cookie sessions, with any cookie that does not open (forged,
    truncated, not JSON inside) read as no session: Litestar suppresses only a bad seal
    or bad base64, and anything else it raised became a 500 on every route."""

    async def load_from_connection(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> dict[str, Any]:
        try:
            return await super().load_from_connection(connection)
        except Exception:
            return {}


@dataclass
class TolerantCookieConfig(CookieBackendConfig):
    _backend_class = TolerantCookieBackend


def session_config(settings: Settings) -> CookieBackendConfig:
    return TolerantCookieConfig(
        secret=service_secret(settings),
        key="btl_session",  # over HTTPS "__Host-btl_session", Secure: see https_cookies
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
    )


def begin_session(request: Request[Any, Any, Any], key_hash: str, epoch: int) -> None:
    """Sign a browser in: its cookie names the key (by hash), the user's session epoch
    now, and when it began."""
    request.set_session({"key_hash": key_hash, "epoch": epoch, "began": int(time.time())})


def signed_in_user(request: Request[Any, Any, Any]) -> User | None:
    """The user of a live session: its key still active, the user's epoch the one it
    began in (no sign-out or revocation since), and younger than the absolute lifetime
    (the cookie's own expiry, renewed by every response, is the idle one)."""
    session = request.session or {}
    key_hash, epoch, began = session.get("key_hash"), session.get("epoch"), session.get("began")
    if not (isinstance(key_hash, str) and isinstance(epoch, int) and isinstance(began, int)):
        return None
    settings: Settings = request.app.state.settings
    if time.time() - began > settings.session_absolute_hours * 3600:
        return None
    found = on_users_database(request, lambda conn: session_user(conn, key_hash))
    if found is None or found[1] != epoch:
        return None
    return found[0]
