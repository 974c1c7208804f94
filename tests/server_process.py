"""A real ``backtest-ledger serve`` process on a free port, for the tests that need
one: started and awaited, stopped, or killed outright."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

CLI = str(Path(sys.executable).parent / "backtest-ledger")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(
        self,
        database_url: str,
        log: Path,
        workers: int = 2,
        args: tuple[str, ...] = (),
        **settings: str,
    ) -> None:
        self.env = dict(os.environ, BACKTEST_LEDGER_DATABASE_URL=database_url,
                        BACKTEST_LEDGER_RATE_LIMIT="0")  # fmt: skip
        self.env.update(settings)
        self.port = free_port()
        self.log = log
        self.workers = workers
        self.args = args  # more options of ``serve``
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [CLI, "serve", "--port", str(self.port), "--workers", str(self.workers),
                 *self.args],
                env=self.env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code in (200, 503):
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"server did not start:\n{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the server and its workers: no shutdown, no flush, nothing."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


@contextmanager
def serving_sqlite(folder: Path, **settings: str) -> Iterator[tuple[str, str]]:
    """A served ledger (one worker) on a new SQLite database in ``folder``, as ``make
    run`` serves one: its URL, and alice's API key."""
    from infrastructure.database import create_engine
    from infrastructure.migrate import upgrade
    from tests.api.conftest import make_keys

    url = f"sqlite:///{folder / 'ledger.sqlite3'}"
    engine = create_engine(url)
    upgrade(engine)
    key = make_keys(engine)["alice"]
    engine.dispose()
    server = Server(url, folder / "server.log", workers=1, **settings)
    server.start()
    try:
        yield server.base, key
    finally:
        server.stop()
