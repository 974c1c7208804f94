"""The commands that read backtests: ``list``, ``search``, ``show``, ``export`` and
``significance``."""

from __future__ import annotations

import argparse
import sys

import msgspec

from api.cli.common import emit_json, engine_of, err, fmt, out, owner_of
from domain.metrics import METRIC_NAMES
from infrastructure.service_secret import service_secret
from infrastructure.settings import Settings
from infrastructure.users import user_by_name
from projections import cursors, documents, queries
from projections.search import search_json, search_query
from projections.significance import DEFAULT_SAMPLES, SignificanceParams, report_for
from projections.sweep_export import stream_sweep
from projections.views import BacktestPage, BacktestSummary


def summary_line(item: BacktestSummary) -> str:
    m = item.metrics
    return "  ".join(
        [
            item.backtest_id,
            item.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{item.symbol:<10}",
            f"{item.strategy:<14}",
            f"{item.start_date}..{item.end_date}",
            f"return {fmt(m.total_return)}",
            f"sharpe {fmt(m.sharpe)}",
            f"maxdd {fmt(m.max_drawdown)}",
        ]
    )


def _service_cursors() -> None:
    """Cursors that the service's pages accept and that it handed out are accepted."""
    cursors.use_key(service_secret(Settings()))


def cmd_list(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    _service_cursors()
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
            out(documents.list_json(conn, query) + b"\n")
            return 0
        page = queries.list_backtests(conn, query)
    for item in page.items:
        out(summary_line(item) + "\n")
    if page.next_cursor:
        err(f"more: --cursor {page.next_cursor}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    _service_cursors()
    query = search_query(
        owner_of(engine, args.user), limit=args.limit, cursor=args.cursor, sort=args.sort,
        where=args.where, symbol=args.symbol, strategy=args.strategy,
        experiment=args.experiment, as_of=args.as_of,
    )  # fmt: skip
    if args.csv:  # the sweep table's columns, at most --limit rows
        sys.stdout.buffer.writelines(stream_sweep(engine, query, "csv", limit=args.limit))
        return 0
    with engine.connect() as conn:
        page = search_json(conn, query)
    if args.json:
        out(page + b"\n")
        return 0
    found = msgspec.json.decode(page, type=BacktestPage)
    for item in found.items:
        out(summary_line(item) + "\n")
    if found.next_cursor:
        err(f"more: --cursor {found.next_cursor}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    with engine.connect() as conn:
        owner = user_by_name(conn, args.user)
    as_of = queries.parse_as_of(args.as_of) if args.as_of else None
    if args.json:  # the API's bytes: the detail rendered from the stored series, streamed
        document = documents.read_document(engine, args.id, "detail", owner.user_id, as_of)
        sys.stdout.buffer.writelines(document.parts())
        out("\n")
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
        *(f"{name:<14} {fmt(getattr(detail.metrics, name))}" for name in METRIC_NAMES),
    ]
    if detail.sanitized_fields:
        lines.append(f"sanitised  {', '.join(detail.sanitized_fields)} (stored as null)")
    out("\n".join(lines) + "\n")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    document = documents.read_document(engine_of(args), args.id, args.kind)
    if args.output:
        with open(args.output, "wb") as handle:
            handle.writelines(document.parts())
        err(f"wrote {args.output}")
    else:
        sys.stdout.buffer.writelines(document.parts())
    return 0


def cmd_significance(args: argparse.Namespace) -> int:
    fit = args.samples is None  # as the API: the default fits a long backtest
    samples = DEFAULT_SAMPLES if fit else args.samples
    params = SignificanceParams(args.seed, samples, args.level, args.block_length)
    report = report_for(engine_of(args), args.id, None, params, fit=fit)
    if args.json:
        emit_json(report)
        return 0
    mean, sharpe, dsr, wf = report.mean_return, report.sharpe, report.dsr, report.walk_forward
    pct = f"{report.level:.0%}"
    out(
        "\n".join(
            [
                f"backtest     {report.backtest_id} ({report.observations} returns, seed "
                f"{report.seed}, {report.samples} resamples, block {fmt(report.block_length)})",
                f"mean return  {fmt(mean.estimate)}  {pct} CI [{fmt(mean.ci_low)}, "
                f"{fmt(mean.ci_high)}]  p(mean<=0) {fmt(mean.p_value)}",
                f"sharpe       {fmt(sharpe.estimate)}  {pct} CI [{fmt(sharpe.ci_low)}, "
                f"{fmt(sharpe.ci_high)}]",
                f"PSR(0)       {fmt(report.psr)}",
                f"DSR          {fmt(dsr.value)}  over {dsr.trials} trials, {dsr.count_text} "
                f"(SR0 {fmt(dsr.sr0)})",
                f"walk-forward {wf.windows} windows, {fmt(wf.positive_share)} positive, "
                f"mean OOS sharpe {fmt(wf.mean_oos_sharpe)}",
            ]
        )
        + "\n"
    )
    return 0
