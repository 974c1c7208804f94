"""The ledger beside MLflow 3, both serving from the same PostgreSQL with two workers
each: the same sweep of ten-year backtests recorded and read back by each, in
interleaved rounds (``make bench-mlflow``; not part of ``make bench``: MLflow lives
in a virtual environment of its own, ``.venv-mlflow``, as its pins are not ours).

MLflow is driven through its REST API (``/api/2.0/mlflow``) with the same HTTP client
as the ledger, so neither side's client library is what is measured. What MLflow
stores of a backtest is what a quant would log to read it back as the ledger serves
it: the parameters, the ledger's own fourteen metrics, and the daily, monthly and
trades CSVs as artifacts. Those metrics and CSVs are computed before the clock starts,
where the ledger computes them on the server as it records: the recording figures
favour MLflow by that much.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pandas as pd
import psycopg

from bench.harness import (
    Result,
    at_most,
    free_port,
    fresh_schema,
    interleaved_medians,
    libpq,
    report,
    result,
    rss_bytes,
    scaled,
    schema_url,
    served,
)
from domain.metrics import compute_metrics
from domain.results import BacktestSubmission
from infrastructure.database import create_engine, write_transaction
from infrastructure.migrate import upgrade
from infrastructure.users import Role, create_user
from tests.factories import backtest_document, body

MLFLOW = os.environ.get("BENCH_MLFLOW", str(Path(".venv-mlflow/bin/mlflow").resolve()))
EXPERIMENT = "sweep"
ROUNDS = 4
API = "/api/2.0/mlflow"


@dataclass
class Variant:
    """One backtest as each side records it."""

    ledger: bytes
    params: list[dict[str, str]]
    metrics: dict[str, float]
    csvs: dict[str, bytes]


def variant(i: int) -> Variant:
    doc = backtest_document(days=2520, trades=100, seed=i, start=dt.date(2010, 1, 1))
    doc["parameters"] = {
        "fast": 5 + i % 46,
        "slow": 50 + i % 151,
        "stop": round(0.01 + i % 9 / 100, 2),
    }
    doc["experiment"] = EXPERIMENT
    submission = msgspec.json.decode(body(doc), type=BacktestSubmission)
    metrics = msgspec.structs.asdict(compute_metrics(submission))
    daily = pd.DataFrame(doc["daily_results"]).set_index("date")
    daily["return"] = daily["equity"].pct_change()
    month_end = daily["equity"].groupby(daily.index.str[:7]).last()
    monthly = pd.DataFrame({"end_equity": month_end, "return": month_end.pct_change()})
    return Variant(
        ledger=body(doc),
        params=[{"key": k, "value": str(v)} for k, v in doc["parameters"].items()],
        metrics={k: float(v) for k, v in metrics.items() if v is not None},
        csvs={
            name: frame.to_csv().encode()
            for name, frame in (
                ("daily.csv", daily),
                ("monthly.csv", monthly),
                ("trades.csv", pd.DataFrame(doc["trades"])),
            )
        },
    )


@contextmanager
def mlflow_served(schema: str, artifacts: Path) -> Iterator[tuple[str, int]]:
    """``mlflow server`` on its own schema of the same PostgreSQL, two workers,
    serving its artifacts from a local directory."""
    port = free_port()
    backend = schema_url(schema)
    server = subprocess.Popen(
        [
            MLFLOW,
            "server",
            "--backend-store-uri",
            backend,
            "--artifacts-destination",
            str(artifacts),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # it migrates its schema first
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {server.returncode}")
            time.sleep(0.2)
        yield base, server.pid
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


class MlflowSide:
    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=120)
        created = self.client.post(f"{API}/experiments/create", json={"name": EXPERIMENT})
        self.experiment_id = created.json()["experiment_id"]
        self.runs: list[tuple[str, str]] = []  # (run id, artifact path)

    def record(self, one: Variant, client: httpx.Client) -> None:
        now = int(time.time() * 1000)
        run = client.post(
            f"{API}/runs/create", json={"experiment_id": self.experiment_id, "start_time": now}
        )
        info = run.json()["run"]["info"]
        metrics = [
            {"key": k, "value": v, "timestamp": now, "step": 0} for k, v in one.metrics.items()
        ]
        logged = client.post(
            f"{API}/runs/log-batch",
            json={"run_id": info["run_id"], "params": one.params, "metrics": metrics},
        )
        logged.raise_for_status()
        where = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
        for name, content in one.csvs.items():
            put = client.put(f"/api/2.0/mlflow-artifacts/artifacts/{where}/{name}", content=content)
            put.raise_for_status()
        client.post(
            f"{API}/runs/update",
            json={"run_id": info["run_id"], "status": "FINISHED", "end_time": now},
        ).raise_for_status()
        self.runs.append((info["run_id"], where))

    def top(self) -> int:
        found = self.client.post(
            f"{API}/runs/search",
            json={
                "experiment_ids": [self.experiment_id],
                "order_by": ["metrics.sharpe DESC"],
                "max_results": 50,
            },
        ).json()
        return len(found["runs"])

    def sweep(self) -> pd.DataFrame:
        """Every run with its parameters and metrics, as ``mlflow.search_runs`` gives."""
        rows, token = [], None
        while True:
            page = self.client.post(
                f"{API}/runs/search",
                json={
                    "experiment_ids": [self.experiment_id],
                    "max_results": 1000,
                    **({"page_token": token} if token else {}),
                },
            ).json()
            for run in page.get("runs", []):
                data = run["data"]
                rows.append(
                    {
                        "run_id": run["info"]["run_id"],
                        **{f"params.{p['key']}": p["value"] for p in data.get("params", [])},
                        **{f"metrics.{m['key']}": m["value"] for m in data.get("metrics", [])},
                    }
                )
            token = page.get("next_page_token")
            if not token:
                return pd.DataFrame(rows)

    def csvs(self, index: int) -> int:
        _, where = self.runs[index]
        return sum(
            len(self.client.get(f"/api/2.0/mlflow-artifacts/artifacts/{where}/{name}").content)
            for name in ("daily.csv", "monthly.csv", "trades.csv")
        )


class LedgerSide:
    def __init__(self, base: str, api_key: str) -> None:
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.client = httpx.Client(base_url=base, headers=headers, timeout=120)
        self.headers = headers
        self.ids: list[str] = []

    def record(self, one: Variant, client: httpx.Client) -> None:
        answer = client.post("/api/v1/backtests", content=one.ledger, headers=self.headers)
        answer.raise_for_status()
        self.ids.append(answer.json()["backtest_id"])

    def top(self) -> int:
        page = self.client.get(
            "/api/v1/backtests",
            params={
                "experiment": EXPERIMENT,
                "sort": "-sharpe",
                "limit": 50,
                "fields": "parameters",
            },
        ).json()
        return len(page["items"])

    def sweep(self) -> pd.DataFrame:
        answer = self.client.get(f"/api/v1/experiments/{EXPERIMENT}/backtests.csv")
        return pd.read_csv(io.BytesIO(answer.content))

    def csvs(self, index: int) -> int:
        backtest_id = self.ids[index]
        return sum(
            len(self.client.get(f"/api/v1/backtests/{backtest_id}/{kind}.csv").content)
            for kind in ("daily", "monthly", "trades")
        )


def _rate(side: Any, variants: list[Variant], clients: int) -> float:
    """Backtests recorded a second by ``clients`` concurrent clients."""
    pool = [httpx.Client(base_url=side.client.base_url, timeout=120) for _ in range(clients)]
    chunks = [variants[k::clients] for k in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as workers:
        list(workers.map(lambda k: [side.record(v, pool[k]) for v in chunks[k]], range(clients)))
    seconds = time.perf_counter() - started
    for client in pool:
        client.close()
    return len(variants) / seconds


def _tree_rss(pid: int) -> int:
    """Resident bytes of a server and its worker processes."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return rss_bytes(pid) + sum(rss_bytes(int(c)) for c in children.stdout.split())


def _schema_bytes(schema: str) -> int:
    with psycopg.connect(libpq(schema_url(schema))) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'm')",
            (schema,),
        ).fetchone()
        return int(row[0]) if row else 0


def _directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run() -> list[Result]:
    if not Path(MLFLOW).exists():
        print(f"MLflow side by side: skipped, {MLFLOW} is missing (make bench-mlflow)")
        return []
    count = scaled(2000, 8)
    batch = max(4, count // (2 * ROUNDS))
    print(f"preparing {count:,} ten-year backtests ...", flush=True)
    variants = [variant(i) for i in range(count)]
    artifacts = Path(tempfile.mkdtemp(prefix="mlflow-artifacts-"))
    with fresh_schema() as ours, fresh_schema() as theirs:
        url = schema_url(ours)
        engine = create_engine(url)
        upgrade(engine)
        with write_transaction(engine) as conn:
            _, api_key = create_user(conn, "quant", Role.USER)
        engine.dispose()
        with (
            served(url, workers=2) as (ledger_base, ledger_pid),
            mlflow_served(theirs, artifacts) as (mlflow_base, mlflow_pid),
        ):
            sides: dict[str, Any] = {
                "ledger": LedgerSide(ledger_base, api_key),
                "mlflow": MlflowSide(mlflow_base),
            }
            rates: dict[tuple[str, int], list[float]] = {}
            position = 0
            while position < count:  # interleaved: each side records the same variants
                for clients in (1, 4):
                    chunk = variants[position : position + batch]
                    position += len(chunk)
                    if not chunk:
                        break
                    for name, side in sides.items():
                        rates.setdefault((name, clients), []).append(_rate(side, chunk, clients))
            print(f"recorded {len(sides['ledger'].ids):,} on each side", flush=True)
            reads: dict[str, Callable[[Any], object]] = {
                "top 50 by Sharpe": lambda side: side.top(),
                "whole sweep into pandas": lambda side: side.sweep(),
                "one backtest's three CSVs": lambda side: side.csvs(count // 2),
            }
            timed = {}
            for what, read in reads.items():
                keys = list(sides)
                timed[what] = interleaved_medians(keys, lambda name: _seconds(read, sides[name]), 7)  # noqa: B023
            assert sides["ledger"].top() == sides["mlflow"].top() == min(50, count)
            memory = {"ledger": _tree_rss(ledger_pid), "mlflow": _tree_rss(mlflow_pid)}
        storage = {
            "ledger": _schema_bytes(ours),
            "mlflow": _schema_bytes(theirs) + _directory_bytes(artifacts),
        }
    shutil.rmtree(artifacts, ignore_errors=True)
    results = []
    for clients in (1, 4):
        ours_rate = statistics.median(rates[("ledger", clients)])
        results.append(
            result(
                f"recording, {clients} client{'s' * (clients > 1)}",
                ours_rate,
                "bt/s",
                "MLflow, same variants",
                statistics.median(rates[("mlflow", clients)]),
                1.0,
            )
        )
    for what, seconds in timed.items():
        results.append(
            at_most(
                what, 1000 * seconds["ledger"], "ms", "MLflow's time", 1000 * seconds["mlflow"], 1.0
            )
        )
    # (figure, bytes by side, what MLflow's are, at most this ratio)
    sizes = [("server memory after the run", memory, "MLflow's (its workers included)", 1.0),
             ("storage", storage, "MLflow's tables and artifacts", 1.1)]  # fmt: skip
    for what, measured, theirs_are, most in sizes:
        results.append(at_most(what, measured["ledger"] / 2**20, "MB", theirs_are,
                               measured["mlflow"] / 2**20, most))  # fmt: skip
    return results


def _seconds(read: Callable[[Any], object], side: Any) -> float:
    started = time.perf_counter()
    read(side)
    return time.perf_counter() - started


if __name__ == "__main__":
    report(run())
