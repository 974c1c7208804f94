"""Finding a PostgreSQL server for the suite, or starting a throwaway cluster.

The configured server (``BACKTEST_LEDGER_TEST_POSTGRES_URL``, default the local one
on 127.0.0.1:5432, database ``test``) is used when it answers. Otherwise a cluster is
initialised in a temporary folder with ``initdb``/``pg_ctl`` (through ``runuser -u
postgres`` when running as root, since PostgreSQL refuses to run as root), with
``fsync=off`` because it is thrown away.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def configured_url() -> str:
    return os.environ.get("BACKTEST_LEDGER_TEST_POSTGRES_URL", DEFAULT_URL)


def libpq_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def answers(url: str) -> bool:
    try:
        with psycopg.connect(libpq_dsn(url), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent  # /usr/local/bin holds links to some tools only
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayCluster:
    """A PostgreSQL cluster that lives only as long as the test session."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (no pg_ctl found)")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="btl-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.url = ""
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_postgres, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"
        )
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "log"), "-w", "start",
        )  # fmt: skip
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE test")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/test"
        return self.url

    def pause(self) -> None:
        """Stop the server, keeping its data (an outage)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")

    def resume(self) -> None:
        """Start the paused server again on the same port."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "log"), "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
