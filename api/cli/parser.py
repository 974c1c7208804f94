"""The argument parser: every command, its options and the function that runs it."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from api.cli.admin import (
    cmd_db_grant,
    cmd_db_upgrade,
    cmd_demo,
    cmd_serve,
    cmd_users_create,
    cmd_users_revoke,
    cmd_users_rotate,
    cmd_worker,
)
from api.cli.audit import cmd_audit_export, cmd_audit_verify, cmd_rebuild, cmd_verify
from api.cli.common import position
from api.cli.experiments import (
    cmd_experiments_analyse,
    cmd_experiments_export,
    cmd_experiments_list,
)
from api.cli.reading import cmd_export, cmd_list, cmd_search, cmd_show, cmd_significance
from api.cli.recording import cmd_delete, cmd_exclude, cmd_record
from infrastructure.settings import Settings
from infrastructure.users import Role
from projections import csv_export


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="SQLAlchemy URL (env BACKTEST_LEDGER_DATABASE_URL; default the SQLite file)",
    )
    parser = argparse.ArgumentParser(prog="backtest-ledger", parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, run: Callable[[argparse.Namespace], int], helptext: str, into: object = sub
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = into.add_parser(  # type: ignore[attr-defined]
            name, parents=[common], help=helptext
        )
        p.set_defaults(run=run)
        return p

    serve = command("serve", cmd_serve, "run the HTTP service")
    serve.add_argument("--host", default=Settings().host)
    serve.add_argument("--port", type=int, default=Settings().port)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--replica-url",
        action="append",
        metavar="URL",
        help="a hot standby to read from (repeatable; env BACKTEST_LEDGER_REPLICA_URLS)",
    )

    worker = command("worker", cmd_worker, "run the experiments' analyses from the queue")
    worker.add_argument("--threads", type=int, default=1, help="analyses run at once")
    worker.add_argument(
        "--dask-scheduler",
        help="tcp://host:8786 (env BACKTEST_LEDGER_DASK_SCHEDULER; default: local threads)",
    )

    db = sub.add_parser("db", help="schema management").add_subparsers(dest="db", required=True)
    command("upgrade", cmd_db_upgrade, "apply the migrations", db)
    grant = command("grant", cmd_db_grant, "grant a role the service's privileges", db)
    grant.add_argument("role")

    users = sub.add_parser("users", help="users and API keys").add_subparsers(
        dest="users", required=True
    )
    create = command("create", cmd_users_create, "create a user, print its API key", users)
    create.add_argument("name")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.USER.value)
    command("revoke", cmd_users_revoke, "revoke a user's API key", users).add_argument("name")
    command("rotate", cmd_users_rotate, "give a user a new API key", users).add_argument("name")

    record = command(
        "record", cmd_record, "record backtests from JSON files, one id per line ('-' = stdin)"
    )
    record.add_argument("files", nargs="+", metavar="FILE")
    record.add_argument("--user", required=True)

    listing = command("list", cmd_list, "list a user's backtests, newest first")
    listing.add_argument("--user", required=True)
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--cursor")
    listing.add_argument("--symbol")
    listing.add_argument("--strategy")
    listing.add_argument("--as-of", help="ISO time with offset, or position:N")

    search = command("search", cmd_search, "search backtests by any metric or parameter")
    search.add_argument("--user", help="whose backtests (default: everyone's)")
    search.add_argument("--experiment")
    search.add_argument("--where", help='e.g. "sharpe > 1 and parameters.fast in (5, 10)"')
    search.add_argument("--sort", help="a metric or list field, '-' for descending")
    search.add_argument("--limit", type=int, default=50)
    search.add_argument("--cursor")
    search.add_argument("--symbol")
    search.add_argument("--strategy")
    search.add_argument("--as-of", help="ISO time with offset, or position:N")
    shape = search.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="the API's page")
    shape.add_argument("--csv", action="store_true", help="the sweep table's columns")

    exps = sub.add_parser("experiments", help="sweeps").add_subparsers(
        dest="experiments", required=True
    )
    exp_list = command("list", cmd_experiments_list, "list experiments", exps)
    exp_list.add_argument("--user", help="whose experiments (default: everyone's)")
    exp_list.add_argument("--json", action="store_true")
    exp_export = command("export", cmd_experiments_export, "a sweep as one table", exps)
    exp_export.add_argument("name")
    exp_export.add_argument("--user", help="whose experiment (default: everyone's)")
    exp_export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    exp_export.add_argument("--where")
    exp_export.add_argument("--sort")
    exp_export.add_argument(
        "--conventions", action="store_true", help="add backtesting.py's, quantstats' figures"
    )
    exp_export.add_argument("-o", "--output")

    analyse = command("analyse", cmd_experiments_analyse,
                      "is the best real? PBO, SPA, StepM, MCS of a whole sweep", exps)  # fmt: skip
    analyse.add_argument("name")
    analyse.add_argument("--user", required=True, help="whose experiment")
    analyse.add_argument("--partitions", type=int, help="CSCV's blocks S (even, 2-24; 16)")
    analyse.add_argument("--benchmark", help="a backtest id to beat (default: staying out)")
    analyse.add_argument("--reps", type=int, help="bootstrap replications (1000)")
    analyse.add_argument("--block-length", type=float, help="mean block (arch's default)")
    analyse.add_argument("--seed", type=int)
    analyse.add_argument("--size", type=float, help="StepM's and MCS's level (0.05)")
    analyse.add_argument("--wait", action="store_true", help="run it here, with progress")
    analyse.add_argument("--json", action="store_true", help="the API's document")

    show = command("show", cmd_show, "show one backtest with its metrics")
    show.add_argument("id")
    show.add_argument("--user", required=True)
    show.add_argument("--json", action="store_true")
    show.add_argument("--as-of", help="ISO time with offset, or position:N")

    delete = command("delete", cmd_delete, "delete a backtest (history keeps it)")
    delete.add_argument("id")
    delete.add_argument("--user", required=True)
    exclude = command("exclude", cmd_exclude, "say a backtest was a mistake: not a trial")
    exclude.add_argument("id")
    exclude.add_argument("--reason", required=True, help="why it is no trial (kept in the log)")
    exclude.add_argument("--user", required=True)

    export = command("export", cmd_export, "write a backtest's CSV to stdout or a file")
    export.add_argument("id")
    export.add_argument("kind", choices=csv_export.KINDS)
    export.add_argument("-o", "--output")

    proj = sub.add_parser("projections", help="read models").add_subparsers(
        dest="projections", required=True
    )
    rebuilding = command("rebuild", cmd_rebuild, "rebuild every read model from the log", proj)
    rebuilding.add_argument(
        "--from-file", help="load an `audit export` file into an empty database first"
    )
    verify = command("verify", cmd_verify, "check the read models against the log", proj)
    verify.add_argument("--json", action="store_true")

    demo = command("demo", cmd_demo, "create a demo user with backtests on real data")
    demo.add_argument(
        "--if-empty", action="store_true", help="only when the database has no events yet"
    )

    sig = command("significance", cmd_significance, "is it luck? bootstrap, PSR, DSR, WF")
    sig.add_argument("id")
    sig.add_argument("--json", action="store_true")
    sig.add_argument("--seed", type=int, default=0)
    sig.add_argument(
        "--samples",
        type=int,
        help="bootstrap resamples (default: 10,000, or as many as fit for a long backtest)",
    )
    sig.add_argument("--level", type=float, default=0.95)
    sig.add_argument("--block-length", type=float)

    audit = sub.add_parser("audit", help="tamper evidence").add_subparsers(
        dest="audit", required=True
    )
    audit_verify = command("verify", cmd_audit_verify, "recompute every hash chain", audit)
    audit_verify.add_argument("--json", action="store_true")
    audit_verify.add_argument("--file", help="verify an `audit export` file, no database")
    audit_export = command("export", cmd_audit_export, "write the log as NDJSON", audit)
    audit_export.add_argument("--after", type=position, default=0, help="start after this position")
    audit_export.add_argument("-o", "--output")
    return parser
