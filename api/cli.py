"""The ``backtest-ledger`` command line.

Scripts drive it, so its output is a contract: identifiers and data on stdout, human
messages on stderr; exit 0 on success, 1 when a verification finds a mismatch, 2 on
bad usage or input (one line on stderr, never a traceback), 3 when the command
could not complete (database unreachable, unexpected failure).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa

from api.handlers import NotPermitted, delete_backtest, record_backtest
from domain.errors import DomainError
from domain.metrics import METRIC_NAMES
from domain.results import BacktestSubmission
from domain.search import BadExpression
from domain.submission import parse_submission
from infrastructure import log_file
from infrastructure.audit import ChainReport, export_log, verify_chain, verify_log
from infrastructure.database import create_engine, write_transaction
from infrastructure.event_store import MAX_POSITION, ConcurrencyConflict, UnknownPosition
from infrastructure.migrate import upgrade
from infrastructure.settings import Settings
from infrastructure.users import (
    Role,
    User,
    UserExists,
    UserNotFound,
    create_user,
    revoke_user,
    rotate_key,
    user_by_name,
)
from projections import csv_export, documents, experiments, queries, rebuild
from projections.search import search_json, search_query
from projections.significance import SignificanceParams, TooManyDraws, report_for
from projections.sweep_export import stream_sweep
from projections.views import BacktestPage, BacktestSummary


class UsageError(Exception):
    """Bad input that is not the domain's to name."""


USAGE_ERRORS = (
    DomainError,
    UserExists,
    UserNotFound,
    queries.BadCursor,
    queries.BadAsOf,
    OSError,
    NotPermitted,
    log_file.BadLogFile,
    rebuild.LogNotEmpty,
    UnknownPosition,
    UsageError,
    BadExpression,
    experiments.ExperimentNotFound,
    TooManyDraws,
)


def _out(text: str | bytes) -> None:
    if isinstance(text, bytes):
        sys.stdout.buffer.write(text)
    else:
        sys.stdout.write(text)


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def _json(value: object) -> None:
    _out(msgspec.json.encode(value).decode() + "\n")


def position(text: str) -> int:
    """A feed position argument: a whole number from 0 to 2^63 - 1."""
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_POSITION:
        raise argparse.ArgumentTypeError(f"{text!r} is not a position (0 to 2^63 - 1)")
    return int(text)


def _engine(args: argparse.Namespace) -> sa.Engine:
    engine = create_engine(args.database_url)
    if upgrade(engine):
        filled = rebuild.fill_missing_documents(engine)
        if filled:
            _err(
                f"wrote the stored documents (CSV and JSON) of {filled} backtests "
                "recorded before this version"
            )
    return engine


def cmd_serve(args: argparse.Namespace) -> int:
    from api.serving import serve

    engine = _engine(args)
    engine.dispose()
    os.environ["BACKTEST_LEDGER_DATABASE_URL"] = args.database_url
    _err(f"backtest-ledger serving on http://{args.host}:{args.port}")
    serve(args.host, args.port, args.workers)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    _engine(args)
    _err("database is at the newest schema revision")
    return 0


def cmd_db_grant(args: argparse.Namespace) -> int:
    from infrastructure.privileges import grant_service_role

    engine = _engine(args)
    if engine.dialect.name != "postgresql":
        raise UsageError("roles and grants exist on PostgreSQL only")
    with write_transaction(engine) as conn:
        grant_service_role(conn, args.role)
    _err(f"granted {args.role!r} what the service needs: SELECT and INSERT on events")
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    engine = _engine(args)
    with write_transaction(engine) as conn:
        user, api_key = create_user(conn, args.name, Role(args.role))
    _out(api_key + "\n")
    _err(f"created {user.role} {user.name!r}; the key above is shown only once")
    return 0


def cmd_users_revoke(args: argparse.Namespace) -> int:
    with write_transaction(_engine(args)) as conn:
        user = revoke_user(conn, args.name)
    _err(f"revoked the key of {user.name!r}: it no longer opens anything")
    return 0


def cmd_users_rotate(args: argparse.Namespace) -> int:
    with write_transaction(_engine(args)) as conn:
        user, api_key = rotate_key(conn, args.name)
    _out(api_key + "\n")
    _err(f"new key for {user.name!r} above (shown only once); the old one no longer works")
    return 0


def _user(engine: sa.Engine, name: str) -> User:
    with engine.connect() as conn:
        return user_by_name(conn, name)


def cmd_record(args: argparse.Namespace) -> int:
    """Record each file as a backtest, printing each id as its transaction commits."""
    files: list[str] = args.files
    if "-" in files and len(files) > 1:
        raise UsageError("'-' (stdin) records one backtest, alone")
    if len(files) > 1:
        return _record_sweep(args, files)
    submission, sanitized = _read_submission(files[0])
    engine = _engine(args)
    note = _record(engine, _user(engine, args.user), submission, sanitized)
    if note:
        _err(note)
    return 0


def _record_sweep(args: argparse.Namespace, files: list[str]) -> int:
    """A sweep in one process: starting a command costs more than recording a backtest.

    Every file is read and validated before the first is recorded, so a bad one, named
    with its field, records nothing. Files are read again to record them, so a sweep of
    any size holds one backtest in memory at a time; each is its own transaction."""
    engine = _engine(args)
    user = _user(engine, args.user)  # before a long validation, not after it
    with _progress_bar(len(files), "validate", "file") as bar:
        for file in files:
            _read_submission(file, named=True)
            bar.update()
    recorded = 0
    try:
        with _progress_bar(len(files), "record", "backtest") as bar:
            for file in files:
                submission, sanitized = _read_submission(file, named=True)
                note = _record(engine, user, submission, sanitized)
                recorded += 1
                if note:
                    bar.write(f"{file}: {note}", file=sys.stderr)
                bar.update()
    finally:
        _err(f"recorded {recorded} of {len(files)} backtests")
    return 0


def _record(
    engine: sa.Engine,
    user: User,
    submission: BacktestSubmission,
    sanitized: list[str],
) -> str | None:
    """Record one backtest and print its id once its transaction has committed; return
    the note for stderr on the values stored as null, if there were any."""
    recorded = record_backtest(engine, user, submission, sanitized).recorded
    _out(recorded.backtest_id + "\n")
    sys.stdout.flush()  # a script reading the ids of a sweep sees each as it commits
    if not sanitized:
        return None
    return f"stored {len(sanitized)} non-finite value(s) as null: {', '.join(sanitized[:5])}"


def _read_submission(file: str, named: bool = False) -> tuple[BacktestSubmission, list[str]]:
    body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    try:
        return parse_submission(body)
    except DomainError as exc:
        if named:
            raise UsageError(f"{file}: {exc}") from exc
        raise


def _fmt(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _summary_line(item: BacktestSummary) -> str:
    m = item.metrics
    return "  ".join(
        [
            item.backtest_id,
            item.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{item.symbol:<10}",
            f"{item.strategy:<14}",
            f"{item.start_date}..{item.end_date}",
            f"return {_fmt(m.total_return)}",
            f"sharpe {_fmt(m.sharpe)}",
            f"maxdd {_fmt(m.max_drawdown)}",
        ]
    )


def cmd_list(args: argparse.Namespace) -> int:
    engine = _engine(args)
    with engine.connect() as conn:
        owner = user_by_name(conn, args.user)
        query = queries.ListQuery(
            owner.user_id,
            limit=args.limit,
            cursor=args.cursor,
            symbol=args.symbol,
            strategy=args.strategy,
            as_of=queries.parse_as_of(args.as_of) if args.as_of else None,
        )
        if args.json:  # the stored items: the bytes the API sends
            _out(documents.list_json(conn, query) + b"\n")
            return 0
        page = queries.list_backtests(conn, query)
    for item in page.items:
        _out(_summary_line(item) + "\n")
    if page.next_cursor:
        _err(f"more: --cursor {page.next_cursor}")
    return 0


def _owner(engine: sa.Engine, name: str | None) -> str | None:
    """The user id a command is scoped to; ``None`` (no --user): everyone's."""
    return None if name is None else _user(engine, name).user_id


def cmd_search(args: argparse.Namespace) -> int:
    engine = _engine(args)
    query = search_query(
        _owner(engine, args.user), limit=args.limit, cursor=args.cursor, sort=args.sort,
        where=args.where, symbol=args.symbol, strategy=args.strategy,
        experiment=args.experiment, as_of=args.as_of,
    )  # fmt: skip
    if args.csv:  # the sweep table's columns, at most --limit rows
        sys.stdout.buffer.writelines(stream_sweep(engine, query, "csv", limit=args.limit))
        return 0
    with engine.connect() as conn:
        page = search_json(conn, query)
    if args.json:
        _out(page + b"\n")
        return 0
    found = msgspec.json.decode(page, type=BacktestPage)
    for item in found.items:
        _out(_summary_line(item) + "\n")
    if found.next_cursor:
        _err(f"more: --cursor {found.next_cursor}")
    return 0


def cmd_experiments_list(args: argparse.Namespace) -> int:
    engine = _engine(args)
    with engine.connect() as conn:
        rows = experiments.list_experiments(conn, _owner(engine, args.user))
    if args.json:
        _json(rows)
        return 0
    for row in rows:
        _out(
            f"{row.name:<30} {row.live:>6} live {row.trials:>6} trials  best sharpe "
            f"{_fmt(row.best_sharpe)}  last {row.last_recorded_at:%Y-%m-%d %H:%M:%S}\n"
        )
    return 0


def cmd_experiments_export(args: argparse.Namespace) -> int:
    engine = _engine(args)
    owner = _owner(engine, args.user)
    query = search_query(owner, sort=args.sort or "created_at", where=args.where,
                         experiment=args.name)  # fmt: skip
    with engine.connect() as conn:
        if not experiments.experiment_exists(conn, args.name, owner):
            raise experiments.ExperimentNotFound(args.name)
    parts = stream_sweep(engine, query, args.format)
    if args.output:
        with open(args.output, "wb") as handle:
            handle.writelines(parts)
        _err(f"wrote {args.output}")
    else:
        sys.stdout.buffer.writelines(parts)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    engine = _engine(args)
    with engine.connect() as conn:
        owner = user_by_name(conn, args.user)
    as_of = queries.parse_as_of(args.as_of) if args.as_of else None
    if args.json:  # the API's bytes: the stored document, streamed
        document = documents.read_document(engine, args.id, "detail", owner.user_id, as_of)
        sys.stdout.buffer.writelines(document.parts())
        _out("\n")
        return 0
    with engine.connect() as conn:
        detail = queries.get_detail(conn, args.id, owner.user_id, as_of, with_trades=False)
    lines = [
        f"backtest   {detail.backtest_id}",
        f"symbol     {detail.symbol} ({detail.market_type}, {detail.interval})",
        f"strategy   {detail.strategy} ({detail.test_mode})",
        f"parameters {msgspec.json.encode(detail.parameters).decode()}",
        f"period     {detail.start_date} .. {detail.end_date}, {len(detail.daily_results)} days",
        f"recorded   {detail.created_at.isoformat()} at position {detail.position}",
        *(f"{name:<14} {_fmt(getattr(detail.metrics, name))}" for name in METRIC_NAMES),
    ]
    if detail.sanitized_fields:
        lines.append(f"sanitised  {', '.join(detail.sanitized_fields)} (stored as null)")
    _out("\n".join(lines) + "\n")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    engine = _engine(args)
    delete_backtest(engine, _user(engine, args.user), args.id)
    _err(f"deleted {args.id}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    document = documents.read_document(_engine(args), args.id, args.kind)
    if args.output:
        with open(args.output, "wb") as handle:
            handle.writelines(document.parts())
        _err(f"wrote {args.output}")
    else:
        sys.stdout.buffer.writelines(document.parts())
    return 0


def cmd_significance(args: argparse.Namespace) -> int:
    params = SignificanceParams(args.seed, args.samples, args.level, args.block_length)
    report = report_for(_engine(args), args.id, None, params)
    if args.json:
        _json(report)
        return 0
    mean, sharpe, dsr, wf = report.mean_return, report.sharpe, report.dsr, report.walk_forward
    pct = f"{report.level:.0%}"
    _out(
        "\n".join(
            [
                f"backtest     {report.backtest_id} ({report.observations} returns, seed "
                f"{report.seed}, {report.samples} resamples, block {_fmt(report.block_length)})",
                f"mean return  {_fmt(mean.estimate)}  {pct} CI [{_fmt(mean.ci_low)}, "
                f"{_fmt(mean.ci_high)}]  p(mean<=0) {_fmt(mean.p_value)}",
                f"sharpe       {_fmt(sharpe.estimate)}  {pct} CI [{_fmt(sharpe.ci_low)}, "
                f"{_fmt(sharpe.ci_high)}]",
                f"PSR(0)       {_fmt(report.psr)}",
                f"DSR          {_fmt(dsr.value)}  over {dsr.trials} trials (SR0 {_fmt(dsr.sr0)})",
                f"walk-forward {wf.windows} windows, {_fmt(wf.positive_share)} positive, "
                f"mean OOS sharpe {_fmt(wf.mean_oos_sharpe)}",
            ]
        )
        + "\n"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from api import demo

    engine = _engine(args)
    if args.if_empty and not demo.is_empty(engine):
        _err("the database already holds backtests: no demo recorded")
        return 0
    _err(f"recording {len(demo.GRID)} moving-average crossovers on S&P 500 daily data ...")
    user, api_key, ids = demo.record_demo(engine)
    _out(api_key + "\n")
    _err(
        f"recorded {len(ids)} backtests for user {user.name!r}. Open "
        f"http://{Settings().host}:{Settings().port}/ and sign in with the key above."
    )
    return 0


def _progress_bar(total: int, what: str, unit: str = "event") -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, desc=what, smoothing=0.1)


def cmd_rebuild(args: argparse.Namespace) -> int:
    engine = _engine(args)
    if args.from_file:
        report = verify_chain(log_file.read_file(args.from_file))
        if not report.ok:
            _err(f"error: {args.from_file} fails verification: {_break(report)}")
            return 1
        with _progress_bar(report.events, "replay") as bar:
            replayed = rebuild.rebuild_from_log(
                engine, log_file.read_file(args.from_file), bar.update
            )
    else:
        with _progress_bar(rebuild.total_events(engine), "rebuild") as bar:
            replayed = rebuild.rebuild(engine, bar.update)
    _err(f"rebuilt the read models from {replayed} events")
    return 0


def _break(report: ChainReport) -> str:
    m = report.first_mismatch
    if m is None:
        return "no mismatch"
    return f"position {m.position} (stream {m.stream_id}, version {m.stream_version}): {m.reason}"


def cmd_audit_verify(args: argparse.Namespace) -> int:
    report = verify_chain(log_file.read_file(args.file)) if args.file else verify_log(_engine(args))
    if args.json:
        _json(report.to_json())
    elif report.ok:
        _out(
            f"ok: {report.events} events in {report.streams} streams verify; "
            f"head position {report.head_position}; digest {report.digest}\n"
        )
    else:
        _out(f"MISMATCH at {_break(report)}\n")
    return 0 if report.ok else 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    events = export_log(_engine(args), args.after)
    if args.output:
        with open(args.output, "wb") as handle:
            count = log_file.write_file(events, handle)
        _err(f"wrote {count} events to {args.output}")
    else:
        log_file.write_file(events, sys.stdout.buffer)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    report = rebuild.verify(_engine(args))
    if args.json:
        _json(report.to_json())
    else:
        for m in report.mismatches:
            _out(f"MISMATCH backtest {m.backtest_id} in {m.table}: {m.detail}\n")
        verdict = "match" if report.ok else "do NOT match"
        _out(f"{report.backtests} backtests checked: read models {verdict} the log\n")
    return 0 if report.ok else 1


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
    exp_export.add_argument("-o", "--output")

    show = command("show", cmd_show, "show one backtest with its metrics")
    show.add_argument("id")
    show.add_argument("--user", required=True)
    show.add_argument("--json", action="store_true")
    show.add_argument("--as-of", help="ISO time with offset, or position:N")

    delete = command("delete", cmd_delete, "delete a backtest (history keeps it)")
    delete.add_argument("id")
    delete.add_argument("--user", required=True)

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
    sig.add_argument("--samples", type=int, default=10_000)
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


def _descending_sorts(argv: Sequence[str]) -> list[str]:
    """``--sort -sharpe`` as ``--sort=-sharpe``: argparse would take ``-sharpe`` for an
    option and refuse the command."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--sort" and arg.startswith("-") and not arg.startswith("--"):
            out[-1] = f"--sort={arg}"
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_descending_sorts(sys.argv[1:] if argv is None else argv))
    if not hasattr(args, "database_url"):
        args.database_url = Settings().database_url
    try:
        return int(args.run(args))
    except USAGE_ERRORS as exc:
        _err(f"error: {exc}")
        return 2
    except ConcurrencyConflict as exc:
        _err(f"error: {exc}; try again")
        return 2
    except sa.exc.OperationalError as exc:
        _err(f"error: database unavailable: {str(exc.orig).splitlines()[0]}")
        return 3
    except documents.MissingDocument as exc:
        _err(f"error: {exc}")
        return 3
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("BACKTEST_LEDGER_DEBUG"):
            raise
        _err(f"error: unexpected {type(exc).__name__}: {exc} (BACKTEST_LEDGER_DEBUG=1 shows more)")
        return 3


if __name__ == "__main__":
    sys.exit(main())
