"""The service and its users: ``serve``, ``db upgrade|grant``, ``users create|revoke|rotate``
and ``demo``."""

from __future__ import annotations

import argparse
import os

from api.cli.common import UsageError, engine_of, err, out
from infrastructure.database import write_transaction
from infrastructure.settings import Settings
from infrastructure.users import Role, create_user, revoke_user, rotate_key


def cmd_serve(args: argparse.Namespace) -> int:
    from api.serving import serve

    engine = engine_of(args)
    engine.dispose()
    os.environ["BACKTEST_LEDGER_DATABASE_URL"] = args.database_url
    if args.replica_url:  # the workers read their settings from the environment
        os.environ["BACKTEST_LEDGER_REPLICA_URLS"] = ",".join(args.replica_url)
    err(f"backtest-ledger serving on http://{args.host}:{args.port}")
    serve(args.host, args.port, args.workers)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the experiments' analyses from the database's queue until interrupted: as
    many as ``--threads`` at once, their Dask tasks on ``--dask-scheduler`` if given."""
    import signal
    import threading

    from projections.analyses import run_worker

    engine = engine_of(args)
    settings = Settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler = args.dask_scheduler or settings.dask_scheduler or None
    threads = [threading.Thread(target=run_worker, daemon=True,
                                args=(engine, stop, scheduler, settings.analysis_lease_s))
               for _ in range(args.threads)]  # fmt: skip
    err(f"backtest-ledger worker: {args.threads} thread(s), Dask: {scheduler or 'threads'}")
    for thread in threads:
        thread.start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        stop.set()
    for thread in threads:
        thread.join(timeout=10)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    engine_of(args)
    err("database is at the newest schema revision")
    return 0


def cmd_db_grant(args: argparse.Namespace) -> int:
    from infrastructure.privileges import grant_service_role

    engine = engine_of(args)
    if engine.dialect.name != "postgresql":
        raise UsageError("roles and grants exist on PostgreSQL only")
    with write_transaction(engine) as conn:
        grant_service_role(conn, args.role)
    err(f"granted {args.role!r} what the service needs: SELECT and INSERT on events")
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    with write_transaction(engine) as conn:
        user, api_key = create_user(conn, args.name, Role(args.role))
    out(api_key + "\n")
    err(f"created {user.role} {user.name!r}; the key above is shown only once")
    return 0


def cmd_users_revoke(args: argparse.Namespace) -> int:
    with write_transaction(engine_of(args)) as conn:
        user = revoke_user(conn, args.name)
    err(f"revoked the key of {user.name!r}: it no longer opens anything")
    return 0


def cmd_users_rotate(args: argparse.Namespace) -> int:
    with write_transaction(engine_of(args)) as conn:
        user, api_key = rotate_key(conn, args.name)
    out(api_key + "\n")
    err(f"new key for {user.name!r} above (shown only once); the old one no longer works")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from api import demo

    engine = engine_of(args)
    if args.if_empty and not demo.is_empty(engine):
        err("the database already holds backtests: no demo recorded")
        return 0
    err(f"recording {len(demo.GRID)} moving-average crossovers on S&P 500 daily data ...")
    user, api_key, ids = demo.record_demo(engine)
    out(api_key + "\n")
    err(
        f"recorded {len(ids)} backtests for user {user.name!r}. Open "
        f"http://{Settings().host}:{Settings().port}/ and sign in with the key above."
    )
    return 0
