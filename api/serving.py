"""How ``backtest-ledger serve`` runs the app under uvicorn: the HTTP protocol it
speaks, with Nagle's algorithm turned off on every connection.

With ``--workers N`` uvicorn binds the listening socket itself without naming the
protocol, so accepted sockets report ``proto == 0`` and asyncio skips ``TCP_NODELAY``
on them (uvicorn issue #3149). A response is written as headers, then body; with Nagle
on, the body waits for the client's delayed ACK, and every keep-alive request after
the first took 40 ms more on Linux. uvloop sets the option by the socket's family,
so only the plain asyncio loop was hit, but the protocol below sets it either way.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on a TCP transport's socket (not on a Unix socket)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with ``TCP_NODELAY`` set on every connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)


def serve(host: str, port: int, workers: int) -> None:
    """Serve ``api.app:create_app`` (settings from the environment) until stopped."""
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=NoDelayHttpProtocol,
        log_level="info",
    )
