"""A served worker holds a slow client only so long: headers within the read timeout,
a body at the minimum rate, and a cap on the connections from one address (each a 408
or a 503, then closed), while a normal client is served as before. Real
``backtest-ledger serve`` processes, spoken to over raw sockets."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.server_process import CLI, Server

LIMITS = {
    "BACKTEST_LEDGER_READ_TIMEOUT_S": "1",
    "BACKTEST_LEDGER_BODY_MIN_BYTES_PER_S": "100",
    "BACKTEST_LEDGER_CONNECTIONS_PER_ADDRESS": "3",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("slow")
    served = Server(f"sqlite:///{root / 'ledger.sqlite3'}", root / "server.log", workers=1,
                    BACKTEST_LEDGER_STATE_DIR=str(root), **LIMITS)  # fmt: skip
    served.start()
    printed = subprocess.run([CLI, "users", "create", "alice"], env=served.env,
                             capture_output=True, text=True, check=True)  # fmt: skip
    served.key = printed.stdout.split()[-1]  # type: ignore[attr-defined]
    yield served
    served.stop()


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _drip(sock: socket.socket, data: bytes, every: float, for_at_most: float) -> bytes:
    """Send ``data`` a byte at a time until the server answers or closes; its answer."""
    deadline = time.monotonic() + for_at_most
    sock.setblocking(False)
    answer = b""
    for byte in data:
        if time.monotonic() > deadline:
            break
        try:
            sock.send(bytes([byte]))
        except OSError:
            break
        time.sleep(every)
        try:
            chunk = sock.recv(4096)
        except BlockingIOError:
            continue
        answer += chunk
        if not chunk or answer:
            break
    return answer


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sends before it closes; fails if it does not within ``seconds``."""
    sock.settimeout(seconds)
    received = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return received
        received += chunk


def test_headers_a_byte_at_a_time_are_a_408_after_the_read_timeout(server: Server) -> None:
    started = time.monotonic()
    with _connect(server) as sock:
        answer = _drip(sock, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100,
                       every=0.2, for_at_most=10)  # fmt: skip
        answer += _closed_within(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408")
    assert 0.9 < time.monotonic() - started < 5


def test_a_connection_that_sends_nothing_is_closed_after_the_read_timeout(
    server: Server,
) -> None:
    started = time.monotonic()
    with _connect(server) as sock:
        assert _closed_within(sock, 5).startswith(b"HTTP/1.1 408")
    assert 0.9 < time.monotonic() - started < 5


def test_a_body_a_byte_at_a_time_is_a_408(server: Server) -> None:
    head = (b"POST /api/v1/backtests HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + server.key.encode()  # type: ignore[attr-defined]
            + b"\r\nContent-Length: 1000\r\n\r\n")  # fmt: skip
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(head)
        answer = _drip(sock, b"{" + b" " * 999, every=0.2, for_at_most=10)
        answer += _closed_within(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408")
    assert 0.9 < time.monotonic() - started < 5


def test_a_fourth_connection_from_one_address_is_a_503_and_the_others_are_served(
    server: Server,
) -> None:
    held = [_connect(server) for _ in range(3)]
    try:
        for sock in held:  # each a kept-alive connection that asked for something
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        with _connect(server) as fourth:
            answer = _closed_within(fourth, 5)
        assert answer.startswith(b"HTTP/1.1 503") and b"retry-after: 5" in answer.lower()
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)  # the server sees the three closed
    assert httpx.get(f"{server.base}/health", timeout=5).status_code == 200


def test_a_request_the_http_parser_refuses_is_a_problem_document(server: Server) -> None:
    """A URL past the parser's 64 KiB was answered in uvicorn's plain text."""
    with _connect(server) as sock:
        sock.sendall(b"GET /api/v1/backtests?where=" + b"a" * 70_000 + b" HTTP/1.1\r\n"
                     b"Host: x\r\n\r\n")  # fmt: skip
        answer = _closed_within(sock, 5)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["detail"]
