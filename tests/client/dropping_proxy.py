"""A TCP proxy in front of a served ledger that, for the first N requests matching a
prefix, forwards the request, reads the server's whole answer, and then closes the
client's connection without sending a byte of it: the server committed, the client
saw the connection drop. HTTP/1.1 with Content-Length bodies (what httpx sends and
the service answers to a POST)."""

from __future__ import annotations

import socket
import threading


def _read_message(sock: socket.socket, pending: bytes) -> tuple[bytes, bytes] | None:
    """One HTTP message (headers and Content-Length body) and what follows it."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        pending += chunk
    head, _, rest = pending.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


class DroppingProxy:
    def __init__(self, upstream_port: int, prefix: bytes, drops: int = 1) -> None:
        self.upstream_port, self.prefix, self.drops_left = upstream_port, prefix, drops
        self.dropped: list[bytes] = []  # the status lines of the answers never delivered
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:  # the service behind has gone (its test is over): so is the client
            client.close()
            return
        from_client = from_server = b""
        with client, upstream:
            while (request := _read_message(client, from_client)) is not None:
                message, from_client = request
                upstream.sendall(message)
                answer = _read_message(upstream, from_server)
                if answer is None:
                    return
                response, from_server = answer
                with self.lock:
                    drop = self.drops_left > 0 and message.startswith(self.prefix)
                    if drop:
                        self.drops_left -= 1
                        self.dropped.append(response.split(b"\r\n", 1)[0])
                if drop:
                    return  # closes the client's connection: the answer is lost
                client.sendall(response)

    def close(self) -> None:
        self.listener.close()
