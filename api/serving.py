"""How ``backtest-ledger serve`` runs the app under uvicorn: the HTTP protocol it
speaks, guarded against slow clients, with Nagle's algorithm turned off on every
connection.

With ``--workers N`` uvicorn binds the listening socket itself without naming the
protocol, so accepted sockets report ``proto == 0`` and asyncio skips ``TCP_NODELAY``
on them (uvicorn issue #3149). A response is written as headers, then body; with Nagle
on, the body waits for the client's delayed ACK, and every keep-alive request after
the first took 40 ms more on Linux. uvloop sets the option by the socket's family,
so only the plain asyncio loop was hit, but the protocol below sets it either way.

Each worker also freezes what it holds once started (``gc.freeze``): the app, its
modules and their imports are ≈90,000 objects that a full collection walked every
time, a pause of ≈35 ms for every request in flight in that worker.
"""

from __future__ import annotations

import asyncio
import gc
import socket

import uvicorn
from litestar import Litestar

from api.app import create_app
from api.slow_clients import GuardedHttpProtocol
from infrastructure.settings import Settings


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on a TCP transport's socket (not on a Unix socket)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ServedHttpProtocol(GuardedHttpProtocol):
    """uvicorn's httptools protocol, guarded against slow clients (``slow_clients``),
    with ``TCP_NODELAY`` set on every connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)


def freeze_startup_objects() -> None:
    """Move every object alive once the app has started out of the collector's reach
    (garbage first collected, so none is kept): they live as long as the worker, and
    a full collection then walks only what requests created since."""
    gc.collect()
    gc.freeze()


def create_served_app() -> Litestar:
    """The app as ``serve`` runs it: ``create_app``, freezing its objects on startup."""
    app = create_app()
    app.on_startup.append(freeze_startup_objects)
    return app


def serve(host: str, port: int, workers: int) -> None:
    """Serve ``create_served_app`` (settings from the environment) until stopped."""
    trusted_proxies = Settings().trusted_proxies
    uvicorn.run(
        "api.serving:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=ServedHttpProtocol,
        log_level="info",
        # the scheme and client address a proxy forwards, from trusted proxies only
        # (uvicorn's default would believe any local process)
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=trusted_proxies or None,
    )
