"""What one client connection may hold of a served worker: headers within a deadline,
a body at a minimum rate, and a cap on the connections open from one address.

uvicorn bounds only the idle time between two requests on a connection. A client that
sends its headers or its body a byte a second, or opens connections and sends nothing,
kept each of them (and with the body, a request handler) for as long as it liked.
``GuardedHttpProtocol`` is uvicorn's httptools protocol with:

- **a header deadline**: from the connection's start, and from the first byte of each
  later request, its headers must be complete within ``read_timeout_s``; else the
  answer is 408 and the connection closes;
- **a body rate**: over every ``read_timeout_s`` in which the server is ready to read,
  a body must bring at least ``body_min_bytes_per_s`` × that span (a 64 MiB body at
  the default 1 KiB/s floor has 18 hours; a byte a second has 10 seconds); else 408;
- **a cap per address**: at most ``connections_per_address`` open connections from one
  client address in one worker; another is answered 503 with Retry-After and closed.
  The trusted proxies' addresses are not capped (behind one, every client has its
  address).
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from infrastructure.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _answer(status: bytes, extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n"
            + extra + b"\r\n")  # fmt: skip


TOO_SLOW = _answer(b"408 Request Timeout")
TOO_MANY = _answer(b"503 Service Unavailable", b"retry-after: 5\r\n")


class ConnectionLimits:
    """The limits of ``Settings``, read once per worker process."""

    def __init__(self, settings: Settings) -> None:
        self.read_timeout_s = settings.read_timeout_s
        self.body_min_bytes = settings.body_min_bytes_per_s * settings.read_timeout_s
        self.per_address = settings.connections_per_address
        self.uncapped: list[Network] | None = _networks(settings.trusted_proxies)

    def capped(self, address: str) -> bool:
        if self.per_address <= 0 or self.uncapped is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True
        return not any(ip in network for network in self.uncapped)


def _networks(trusted: str) -> list[Network] | None:
    """The trusted proxies as networks; None when every address is trusted ("*")."""
    names = [name.strip() for name in trusted.split(",") if name.strip()]
    if "*" in names:
        return None
    return [ipaddress.ip_network(name, strict=False) for name in names]


class GuardedHttpProtocol(HttpToolsProtocol):
    limits: ClassVar[ConnectionLimits | None] = None
    # one worker process serves every connection of its protocol class
    open_by_address: ClassVar[collections.Counter[str]] = collections.Counter()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if GuardedHttpProtocol.limits is None:
            GuardedHttpProtocol.limits = ConnectionLimits(Settings())
        self._address = self.client[0] if self.client else ""
        self._counted = self.limits.capped(self._address)  # type: ignore[union-attr]
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_bytes = 0
        if self._counted:
            if self.open_by_address[self._address] >= self.limits.per_address:  # type: ignore[union-attr]
                self._counted = False
                self._refuse(TOO_MANY)
                return
            self.open_by_address[self._address] += 1
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._counted:
            self.open_by_address[self._address] -= 1
            if self.open_by_address[self._address] <= 0:
                del self.open_by_address[self._address]
            self._counted = False
        super().connection_lost(exc)

    # --- headers -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._await_headers()

    def on_headers_complete(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().on_headers_complete()
        self._body_bytes = 0
        if self._expects_body():
            self._body_timer = self.loop.call_later(self._timeout, self._check_body_rate)

    def _await_headers(self) -> None:
        self._header_timer = self.loop.call_later(self._timeout, self._refuse, TOO_SLOW)

    # --- body ----------------------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def _check_body_rate(self) -> None:
        """Once a span: too few bytes while the server was ready to read is too slow
        (while the app holds reading paused, the client is not to blame)."""
        limits = self.limits
        assert limits is not None
        if self._body_bytes < limits.body_min_bytes and not self.flow.read_paused:
            self._refuse(TOO_SLOW)
            return
        self._body_bytes = 0
        self._body_timer = self.loop.call_later(self._timeout, self._check_body_rate)

    def _expects_body(self) -> bool:
        names = {name.lower(): value for name, value in self.headers}
        length: Any = names.get(b"content-length", b"0")
        return b"chunked" in names.get(b"transfer-encoding", b"").lower() or (
            length.strip().isdigit() and int(length) > 0
        )

    # --- shared --------------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        """A request the HTTP parser refuses (a URL past 64 KiB, bad framing) is a
        problem document like every other refusal, not uvicorn's plain text."""
        body = json.dumps(
            {
                "type": "urn:backtest-ledger:problem:bad-request",
                "title": "Bad request",
                "status": 400,
                "detail": msg,
            }
        ).encode()
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
            + body
        )  # fmt: skip
        self.transport.close()

    @property
    def _timeout(self) -> float:
        return self.limits.read_timeout_s if self.limits else 10.0

    def _refuse(self, answer: bytes) -> None:
        self._cancel_timers()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the handler reading the body stops
            self.cycle.message_event.set()
        if not self.transport.is_closing():
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(answer)
            self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (getattr(self, "_header_timer", None), getattr(self, "_body_timer", None)):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None
