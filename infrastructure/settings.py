"""Settings, read from ``BACKTEST_LEDGER_*`` environment variables or given by flags.

Each setting is declared once, with its variable, its default and what it does; the
docs' settings reference is generated from these declarations.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///./var/backtest-ledger.sqlite3"
PREFIX = "BACKTEST_LEDGER_"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"{PREFIX}{name}", default)


def setting(name: str, default: str, parse: Callable[[str], Any], doc: str) -> Any:
    """A field read from ``BACKTEST_LEDGER_<name>`` (``default`` when unset), parsed by
    ``parse``; ``doc`` says what it does, for the reference."""
    return field(
        default_factory=lambda: parse(_env(name, default)),
        metadata={"variable": f"{PREFIX}{name}", "default": default, "doc": doc},
    )


def _urls(text: str) -> tuple[str, ...]:
    return tuple(url.strip() for url in text.split(",") if url.strip())


def _mebibytes(text: str) -> int:
    return int(text) * 1024 * 1024


@dataclass(frozen=True)
class SettingDoc:
    """One setting as the reference shows it."""

    field: str
    variable: str
    default: str
    doc: str


@dataclass(frozen=True)
class Settings:
    database_url: str = setting(
        "DATABASE_URL", DEFAULT_DATABASE_URL, str,
        "the database: a SQLAlchemy URL, `sqlite:///path` or "
        "`postgresql+psycopg://user@host/db` (flag `--database-url`)",
    )  # fmt: skip
    host: str = setting("HOST", "127.0.0.1", str, "the address `serve` listens on (`--host`)")
    port: int = setting("PORT", "8000", int, "the port `serve` listens on (`--port`)")
    max_body_bytes: int = setting(
        "MAX_BODY_BYTES", str(64 * 1024 * 1024), int,
        "the largest request body; a larger one is a 413",
    )  # fmt: skip
    session_secret: str = setting(
        "SESSION_SECRET", "", str,
        "the secret that seals browser sessions and list cursors; empty: one kept in "
        "the state folder. Every node of one service must share it",
    )  # fmt: skip
    secure_cookies: bool = setting(
        "SECURE_COOKIES", "", lambda text: text == "1",
        "`1`: cookies `Secure` with the `__Host-` prefix on every request, not only on "
        "those that came over HTTPS",
    )  # fmt: skip
    trusted_proxies: str = setting(
        "TRUSTED_PROXIES", "", str,
        "reverse proxies (addresses or networks, comma-separated; `*` any) whose "
        "`X-Forwarded-Proto` and `X-Forwarded-For` are believed; none by default",
    )  # fmt: skip
    session_absolute_hours: float = setting(
        "SESSION_ABSOLUTE_HOURS", "12", float,
        "a browser session ends this many hours after sign-in, however busy (idle: 8 hours)",
    )  # fmt: skip
    significance_seconds: float = setting(
        "SIGNIFICANCE_SECONDS", "30", float,
        "seconds one significance report may compute before the request answers 503",
    )  # fmt: skip
    replica_urls: tuple[str, ...] = setting(
        "REPLICA_URLS", "", _urls,
        "hot standbys every read goes to (SQLAlchemy URLs, comma-separated; `serve "
        "--replica-url`); none: the primary serves every read",
    )  # fmt: skip
    replica_wait_ms: float = setting(
        "REPLICA_WAIT_MS", "200", float,
        "how long a read with a consistency token waits for a standby to replay past it "
        "before the primary serves it",
    )  # fmt: skip
    replica_max_lag_s: float = setting(
        "REPLICA_MAX_LAG_S", "10", float,
        "a standby further behind than this many seconds is out of rotation until it "
        "catches up",
    )  # fmt: skip
    state_dir: str = setting(
        "STATE_DIR", "./var", str, "the folder of the service's own state (its secret)"
    )
    rate_limit_per_minute: int = setting(
        "RATE_LIMIT", "1200", int,
        "requests per clock minute per API key, across every worker and node; 0 turns "
        "the limit off",
    )  # fmt: skip
    rate_share_s: float = setting(
        "RATE_SHARE_S", "0.25", float,
        "seconds between a process's exchanges of counts with the other nodes: how stale "
        "their hits may be when a limit is checked",
    )  # fmt: skip
    analysis_workers: int = setting(
        "ANALYSIS_WORKERS", "1", int,
        "threads of each service process that run the experiments' analyses (0: none; "
        "run `backtest-ledger worker` elsewhere)",
    )  # fmt: skip
    dask_scheduler: str = setting(
        "DASK_SCHEDULER", "", str,
        "the Dask scheduler analyses send their tasks to (`tcp://host:8786`); empty: "
        "Dask's threads in the process",
    )  # fmt: skip
    analysis_lease_s: float = setting(
        "ANALYSIS_LEASE_S", "60", float,
        "seconds a worker holds a job without reporting progress; a worker that dies "
        "leaves its job to be taken again once this has passed",
    )  # fmt: skip
    detail_cache_bytes: int = setting(
        "DETAIL_CACHE_MB", "64", _mebibytes,
        "mebibytes of rendered details, CSVs and sweep exports each worker process "
        "keeps, least recently used out first (keyed by the backtest's or the "
        "experiment's version: never stale); 0 keeps none",
    )  # fmt: skip
    auth_failures_per_minute: int = setting(
        "AUTH_FAILURES_PER_MINUTE", "60", int,
        "wrong API keys (API or sign-in page) per client address and minute, across "
        "nodes, before that address gets 429 for any key; 0 turns the throttle off",
    )  # fmt: skip
    # Sync handlers run on up to 40 threads (anyio's default); a pool smaller than the
    # requests in flight makes SQLAlchemy open and close a connection (a new PostgreSQL
    # backend) per request, which cost the list a third of its throughput at 32
    # concurrent clients.
    pool_size: int = setting(
        "POOL_SIZE", "20", int,
        "database connections each worker process keeps open (as many again in bursts)",
    )  # fmt: skip
    record_budget_bytes: int = setting(
        "RECORD_BUDGET_BYTES", "0", int,
        "bytes of request bodies one worker records at once (0: twice MAX_BODY_BYTES)",
    )  # fmt: skip
    admission_wait_s: float = setting(
        "ADMISSION_WAIT_S", "10", float,
        "how long a record waits for its share of the budget before a 503",
    )  # fmt: skip
    busy_timeout_s: float = setting(
        "BUSY_TIMEOUT_S", "30", float,
        "how long a write on SQLite waits for another's lock before it is answered busy",
    )  # fmt: skip
    read_timeout_s: float = setting(
        "READ_TIMEOUT_S", "10", float,
        "`serve`: a request's headers must arrive within this many seconds of the "
        "connection's start or of its first byte, else 408",
    )  # fmt: skip
    body_min_bytes_per_s: int = setting(
        "BODY_MIN_BYTES_PER_S", "1024", int,
        "`serve`: a body must arrive at least this fast over every READ_TIMEOUT_S, else 408",
    )  # fmt: skip
    connections_per_address: int = setting(
        "CONNECTIONS_PER_ADDRESS", "64", int,
        "open connections per client address and worker process (the trusted proxies "
        "are not capped); 0 turns the cap off",
    )  # fmt: skip


def documented() -> list[SettingDoc]:
    """Every setting, in declaration order, as the reference shows it."""
    return [
        SettingDoc(f.name, f.metadata["variable"], f.metadata["default"], f.metadata["doc"])
        for f in fields(Settings)
    ]
