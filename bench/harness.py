"""What every benchmark shares: a throwaway PostgreSQL schema, a served app, results."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
SERVER_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
OUT = Path(__file__).parent / "out"
CLI = str(Path(sys.executable).parent / "backtest-ledger")


K = TypeVar("K", bound=Hashable)


def scaled(n: int, minimum: int = 1) -> int:
    return max(minimum, int(n * SCALE))


def interleaved_medians(
    keys: list[K], measure: Callable[[K], float], rounds: int = 5
) -> dict[K, float]:
    """The median of ``measure(key)`` for each key over ``rounds`` rounds, every key
    measured once per round in turn: on this shared machine a burst of load then lands
    on every contender (or size) alike instead of on the one that happened to run."""
    measured: dict[K, list[float]] = {key: [] for key in keys}
    for _ in range(rounds):
        for key in keys:
            measured[key].append(measure(key))
    return {key: statistics.median(values) for key, values in measured.items()}


@dataclass
class Result:
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    ratio: float
    target: str
    ok: bool


def result(
    name: str, value: float, unit: str, baseline: str, baseline_value: float, target: float
) -> Result:
    """A figure against its baseline; ``target`` is the least acceptable ratio."""
    ratio = value / baseline_value if baseline_value else float("nan")
    return Result(
        name, value, unit, baseline, baseline_value, ratio, f">= {target}x", ratio >= target
    )


def at_most(
    name: str, value: float, unit: str, baseline: str, baseline_value: float, most: float
) -> Result:
    """A figure that must stay under ``most`` times its baseline (a latency beside the
    same measure of a simpler route)."""
    ratio = value / baseline_value if baseline_value else float("nan")
    return Result(name, value, unit, baseline, baseline_value, ratio, f"<= {most}x", ratio <= most)


def reported(name: str, value: float, unit: str, baseline: str, baseline_value: float) -> Result:
    """A figure shown beside its baseline, with no target (``docs`` says why)."""
    ratio = value / baseline_value if baseline_value else float("nan")
    return Result(name, value, unit, baseline, baseline_value, ratio, "reported", True)


def limit(name: str, value: float, unit: str, ceiling: float, note: str) -> Result:
    """A figure that must stay under an absolute ceiling (memory, latency)."""
    return Result(
        name, value, unit, note, ceiling, value / ceiling, f"< {ceiling} {unit}", value < ceiling
    )


def report(results: list[Result]) -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    print(f"\n{'benchmark':<44} {'value':>12} {'unit':<10} {'baseline':>12} {'ratio':>7}  target")
    for r in results:
        print(
            f"{r.name:<44} {r.value:>12.2f} {r.unit:<10} {r.baseline_value:>12.2f} "
            f"{r.ratio:>7.2f}  {r.target:<10} {'ok' if r.ok else 'MISSED'}   ({r.baseline})"
        )
    print(f"\nwritten to {OUT / 'results.json'} (BENCH_SCALE={SCALE})")


def copyable(value: object) -> object:
    """A value read from a row as it goes back in a text COPY (jsonb is read as a dict
    or list, which COPY does not take back as such)."""
    from psycopg.types.json import Jsonb

    return Jsonb(value) if isinstance(value, dict | list) else value


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def schema_url(schema: str) -> str:
    return f"{SERVER_URL}?options=-csearch_path%3D{schema}"


@contextmanager
def bench_schema() -> Iterator[str]:
    """A URL whose connections live in a fresh schema, dropped afterwards."""
    with fresh_schema() as schema:
        yield schema_url(schema)


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A fresh schema's name, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq(SERVER_URL), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(libpq(SERVER_URL), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(database_url: str, workers: int = 1) -> Iterator[tuple[str, int]]:
    """``backtest-ledger serve`` on a free port; yields its base URL and its pid."""
    port = free_port()
    env = dict(
        os.environ,
        BACKTEST_LEDGER_DATABASE_URL=database_url,
        BACKTEST_LEDGER_MAX_BODY_BYTES=str(2**31),
        BACKTEST_LEDGER_RATE_LIMIT="0",
    )
    server = subprocess.Popen(
        [CLI, "serve", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """Samples a process's resident memory every few milliseconds."""

    def __init__(self, pid: int) -> None:
        self.pid, self.start, self.peak = pid, rss_bytes(pid), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return max(0, self.peak - self.start) / 2**20


@dataclass
class Download:
    size: int
    seconds: float


def download_trades_csv(base: str, api_key: str, backtest_id: str) -> Download:
    """GET a backtest's trades.csv with curl; its size in bytes and curl's total time."""
    return download(base, api_key, f"/api/v1/backtests/{backtest_id}/trades.csv")


def download(base: str, api_key: str, path: str, into: str = "/dev/null") -> Download:
    """GET ``path`` with curl (so the client's own speed is not what is measured) into
    a file; its size in bytes and curl's total time."""
    done = subprocess.run(
        ["curl", "-sS", "-o", into, "-w", "%{http_code} %{size_download} %{time_total}",
         "-H", f"Authorization: Bearer {api_key}", f"{base}{path}"],
        capture_output=True, text=True, check=True, timeout=900,
    )  # fmt: skip
    status, size, seconds = done.stdout.split()
    assert status == "200", done.stdout
    return Download(int(size), float(seconds))
