"""The HTTP protocol ``serve`` runs: Nagle's algorithm is off on every connection, also
on a listening socket bound the way uvicorn's ``--workers N`` supervisor binds it
(``proto == 0``), where asyncio itself leaves it on (uvicorn issue #3149); and each
worker freezes what it holds once started."""

from __future__ import annotations

import gc
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from litestar.testing import TestClient
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.serving import ServedHttpProtocol, create_served_app


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


def supervisor_style_socket() -> socket.socket:
    """A listening socket made as uvicorn's ``Config.bind_socket`` makes it: no proto."""
    sock = socket.socket(family=socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def server_side_nodelay(protocol: type, loop: str) -> list[int]:
    """TCP_NODELAY of the server's side of each open connection, after one request."""
    sock = supervisor_style_socket()
    config = uvicorn.Config(hello, loop=loop, http=protocol, lifespan="off", log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        with socket.create_connection(sock.getsockname()) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            reply = b""
            while not reply.endswith(b"hello"):
                reply += client.recv(4096)
            assert reply.startswith(b"HTTP/1.1 200")
            return [
                connection.transport.get_extra_info("socket").getsockopt(
                    socket.IPPROTO_TCP, socket.TCP_NODELAY
                )
                for connection in list(server.server_state.connections)
            ]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_asyncio_leaves_nagle_on_for_a_supervisor_bound_socket() -> None:
    """The trap itself: uvicorn's own protocol on plain asyncio keeps Nagle on."""
    assert server_side_nodelay(HttpToolsProtocol, "asyncio") == [0]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_serve_protocol_turns_nagle_off(loop: str) -> None:
    flags = server_side_nodelay(ServedHttpProtocol, loop)
    assert len(flags) == 1 and flags[0] != 0


def test_the_served_app_freezes_what_it_holds_once_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Startup moves the app's objects out of the collector's reach, so that a full
    collection in a worker no longer walks the ≈90,000 objects of the app and its
    imports (a pause of ≈35 ms for every request in flight)."""
    monkeypatch.setenv("BACKTEST_LEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    gc.unfreeze()
    app = create_served_app()
    try:
        assert gc.get_freeze_count() == 0
        walked_before = len(gc.get_objects())
        with TestClient(app) as client:
            assert gc.get_freeze_count() > 50_000
            assert len(gc.get_objects()) < walked_before / 10
            assert not any(obj is app for obj in gc.get_objects())
            assert client.get("/health").status_code == 200
    finally:
        gc.unfreeze()
