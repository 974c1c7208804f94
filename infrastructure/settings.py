"""Settings, read from ``BACKTEST_LEDGER_*`` environment variables or given by flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite:///./var/backtest-ledger.sqlite3"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"BACKTEST_LEDGER_{name}", default)


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", DEFAULT_DATABASE_URL))
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("PORT", "8000")))
    max_body_bytes: int = field(
        default_factory=lambda: int(_env("MAX_BODY_BYTES", str(64 * 1024 * 1024)))
    )
    session_secret: str = field(default_factory=lambda: _env("SESSION_SECRET", ""))
    # cookies Secure with the __Host- prefix on every request, not only those over HTTPS
    secure_cookies: bool = field(default_factory=lambda: _env("SECURE_COOKIES", "") == "1")
    # reverse proxies (addresses or networks, comma-separated; "*" any) whose
    # X-Forwarded-Proto and X-Forwarded-For are believed; none by default
    trusted_proxies: str = field(default_factory=lambda: _env("TRUSTED_PROXIES", ""))
    # a browser session ends this long after sign-in, however busy (idle: 8 hours)
    session_absolute_hours: float = field(
        default_factory=lambda: float(_env("SESSION_ABSOLUTE_HOURS", "12"))
    )
    # seconds one significance report may compute before the request answers 503
    significance_seconds: float = field(
        default_factory=lambda: float(_env("SIGNIFICANCE_SECONDS", "30"))
    )
    # hot standbys every read goes to (SQLAlchemy URLs, comma-separated); none: the
    # primary serves every read, as before
    replica_urls: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            url.strip() for url in _env("REPLICA_URLS", "").split(",") if url.strip()
        )
    )
    # how long a read with a consistency token waits for a standby to replay past it
    # before the primary serves it
    replica_wait_ms: float = field(default_factory=lambda: float(_env("REPLICA_WAIT_MS", "200")))
    # a standby further behind than this is out of rotation until it catches up
    replica_max_lag_s: float = field(default_factory=lambda: float(_env("REPLICA_MAX_LAG_S", "10")))
    state_dir: str = field(default_factory=lambda: _env("STATE_DIR", "./var"))
    # requests per minute per API key and worker process; 0 turns the limit off
    rate_limit_per_minute: int = field(default_factory=lambda: int(_env("RATE_LIMIT", "1200")))
    # seconds between a process's exchanges of counts with the other nodes: how stale
    # their hits may be when a limit is checked (each exchange is one statement)
    rate_share_s: float = field(default_factory=lambda: float(_env("RATE_SHARE_S", "0.25")))
    # threads of each service process that run the experiments' analyses (0: none; run
    # `backtest-ledger worker` elsewhere), and the Dask scheduler they send their tasks
    # to (tcp://host:8786; empty: Dask's threads in the process)
    analysis_workers: int = field(default_factory=lambda: int(_env("ANALYSIS_WORKERS", "1")))
    dask_scheduler: str = field(default_factory=lambda: _env("DASK_SCHEDULER", ""))
    # seconds a worker holds a job without reporting progress; a worker that dies
    # leaves its job to be taken again once this has passed
    analysis_lease_s: float = field(default_factory=lambda: float(_env("ANALYSIS_LEASE_S", "60")))
    # bytes of rendered details each worker process keeps, least recently used out
    # first (keyed by the backtest's stream version: never stale); 0 keeps none
    detail_cache_bytes: int = field(
        default_factory=lambda: int(_env("DETAIL_CACHE_MB", "64")) * 1024 * 1024
    )
    # wrong API keys (API or sign-in page) per client address and minute, per worker
    # process, before that address gets 429 for any key; 0 turns the throttle off
    auth_failures_per_minute: int = field(
        default_factory=lambda: int(_env("AUTH_FAILURES_PER_MINUTE", "60"))
    )
    # database connections each worker process keeps open. Sync handlers run on up to
    # 40 threads (anyio's default); a pool smaller than the requests in flight makes
    # SQLAlchemy open and close a connection (a new PostgreSQL backend) per request,
    # which cost the list a third of its throughput at 32 concurrent clients.
    pool_size: int = field(default_factory=lambda: int(_env("POOL_SIZE", "20")))
    # bytes of request bodies one worker records at once (0: twice max_body_bytes),
    # and how long a record waits for its share before a 503
    record_budget_bytes: int = field(default_factory=lambda: int(_env("RECORD_BUDGET_BYTES", "0")))
    admission_wait_s: float = field(default_factory=lambda: float(_env("ADMISSION_WAIT_S", "10")))
    # how long a write on SQLite waits for another's lock before it is answered busy
    busy_timeout_s: float = field(default_factory=lambda: float(_env("BUSY_TIMEOUT_S", "30")))
    # slow clients (``serve``): a request's headers must arrive within this many
    # seconds, and its body at least BODY_MIN_BYTES_PER_S over every such span
    read_timeout_s: float = field(default_factory=lambda: float(_env("READ_TIMEOUT_S", "10")))
    body_min_bytes_per_s: int = field(
        default_factory=lambda: int(_env("BODY_MIN_BYTES_PER_S", "1024"))
    )
    # open connections per client address and worker process (not counted for the
    # trusted proxies); 0 turns the cap off
    connections_per_address: int = field(
        default_factory=lambda: int(_env("CONNECTIONS_PER_ADDRESS", "64"))
    )
