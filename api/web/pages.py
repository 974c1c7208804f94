"""The pages a person opens in a browser: sign in, the list, a report, compare.

Every page shows only what the signed-in user may see, exactly like the API: the
same queries, scoped the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import urllib.parse
from typing import Annotated, Any

import numpy as np
import sqlalchemy as sa
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from litestar.utils.scope.state import ScopeState

from api.auth import client_address, owner_scope
from api.conditional import etag, holds, not_modified, validators
from api.handlers import delete_backtest
from api.reads import on_users_database, read_engine, written
from api.routes.backtests import csv_download
from api.throttle import FailureThrottle
from api.web.charts import COLUMNS, PALETTE, heat_colour, line_chart
from api.web.session import begin_session, signed_in_user
from domain.ids import canonical_id
from domain.metrics import METRIC_NAMES
from domain.parameters import flatten
from domain.provenance import Provenance, provenance_document
from domain.relative import benchmark_returns, held
from domain.rolling import rolling_beta, rolling_sharpe, window_of
from domain.series import drawdowns, effective_returns
from infrastructure.database import read_connection, write_transaction
from infrastructure.users import Role, User, end_sessions, hash_key, session_user
from projections import queries
from projections.compare import benchmark_curve, compare, on_one_axis, parse_ids
from projections.csv_export import KINDS
from projections.significance import (
    ReportAbandoned,
    SignificanceParams,
    SignificanceReport,
    report_for,
    report_inputs,
    stored_report,
)
from projections.versions import backtest_version

PER_PAGE = 50
# Past this a page's OFFSET overflows what the stores count in (a 500 before): 10^6
# pages of 50 is 5e7 rows, more than any one list or backtest holds.
MAX_PAGE_NUMBER = 1_000_000
PAGE_RESAMPLES = 2_000
# Bootstrap draws a page computes while it answers (about a quarter of a second): ten
# years of days at PAGE_RESAMPLES is 5,000,000; a million bars is 100,000,000 (seconds)
PAGE_INLINE_DRAWS = 10_000_000
# a compared curve keeps four points a span: a span to each pixel column of its chart
CHART_POINTS = 4 * COLUMNS
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PERCENT_METRICS = {"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "alpha",
                   "tracking_error"}  # fmt: skip
LABELS = {
    "total_return": "Total return", "cagr": "CAGR", "volatility": "Volatility",
    "sharpe": "Sharpe", "sortino": "Sortino", "max_drawdown": "Max drawdown",
    "calmar": "Calmar", "num_trades": "Trades", "win_rate": "Win rate",
    "profit_factor": "Profit factor", "beta": "Beta", "alpha": "Alpha",
    "information_ratio": "Information ratio", "tracking_error": "Tracking error",
}  # fmt: skip

Page = Template | Redirect | Response[bytes]


def against_benchmark(detail: Any, span: tuple[str, str]) -> dict[str, Any]:
    """The report's benchmark: its equity rebased to the initial capital (drawn under
    the strategy's), the relative figures when there are pairs to compare, and the
    rolling Sharpe (and, with a benchmark, beta) over half a year of bars."""
    days = detail.daily_results
    returns = np.array([np.nan if r is None else r
                        for r in effective_returns(detail.initial_capital, days)])  # fmt: skip
    window, periods = window_of(detail.periods_per_year), detail.periods_per_year
    sharpe_title = f"Rolling Sharpe, {window} bars"
    charts = [
        (sharpe_title,
         line_chart([rolling_sharpe(returns, periods, window)], ["rolling Sharpe"], span,
                    title=sharpe_title, height=160, fmt=".2f"))
    ]  # fmt: skip
    relative = detail.relative
    if relative is None or relative.pairs < 2:
        return {"rebased": [], "names": [], "charts": charts, "relative": None}
    benchmark = benchmark_returns(days)
    assert benchmark is not None  # there are pairs
    growth = held(benchmark) * detail.initial_capital
    rebased = [float(v) if math.isfinite(v) else None for v in growth]
    beta_title = f"Rolling beta, {window} bars"
    charts.append(
        (beta_title,
         line_chart([rolling_beta(returns, benchmark, window)], ["rolling beta"], span,
                    title=beta_title, height=160, fmt=".2f"))
    )  # fmt: skip
    return {"rebased": [rebased], "names": ["benchmark"], "charts": charts, "relative": relative}


def fmt_metric(name: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if name in PERCENT_METRICS:
        return f"{value:.2%}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.2f}"


def sign_in_first(request: Request[Any, Any, Any]) -> Redirect:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/signin?next={urllib.parse.quote(target)}")


def primary_of(request: Request[Any, Any, Any]) -> sa.Engine:
    """Where a page writes."""
    engine: sa.Engine = request.app.state.engine
    return engine


def reader_of(request: Request[Any, Any, Any]) -> User | None:
    user = signed_in_user(request)
    if user is not None and user.role is Role.ADMIN:
        raise NotFoundException("administrators manage users and read no backtests")
    return user


def page_tag(request: Request[Any, Any, Any], user: User, *depends_on: object) -> str:
    """A page's ETag: what it shows (``depends_on``), the reader it shows it to, and the
    form token it carries (the same while its cookie lives)."""
    form_token = ScopeState.from_scope(request.scope).csrf_token
    return etag(*depends_on, user.user_id, user.name, user.role.value, form_token)


def report_page_tag(
    request: Request[Any, Any, Any],
    user: User,
    backtest_id: str,
    trades_page: int,
    significance: str,
    params: SignificanceParams,
) -> str:
    """The report page's ETag: it depends on the backtest's stream, its significance
    report's inputs (the trials of its experiment among them), the page of trades and
    the significance budget. Read without the series (404 if not readable)."""
    engine = read_engine(request)
    scope = owner_scope(user)
    with read_connection(engine) as conn:
        _, version = backtest_version(conn, backtest_id, scope)
    inputs = report_inputs(engine, backtest_id, scope, params, fit=True)
    return page_tag(request, user, "report page", backtest_id, version, inputs, trades_page,
                    significance, request.app.state.settings.significance_seconds)  # fmt: skip


class Pages(Controller):
    include_in_schema = False

    @get("/", sync_to_thread=False)
    def home(self) -> Redirect:
        return Redirect("/backtests", status_code=303)

    @get("/signin", sync_to_thread=False)
    def signin_form(self, next: FromQuery[str] = "/backtests") -> Template:
        return Template("signin.html.j2", context={"next": next, "error": None})

    @post("/signin", sync_to_thread=True, status_code=303)
    def signin(
        self,
        request: Request[Any, Any, State],
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Page:
        target = data.get("next") or "/backtests"
        if not target.startswith("/") or target.startswith("//"):
            target = "/backtests"  # never redirect off this site
        throttle: FailureThrottle = request.app.state.throttle
        wait = throttle.retry_after(client_address(request))
        if wait is not None:
            context = {"next": target, "error": f"Too many wrong keys: try again in {wait} s."}
            return Template("signin.html.j2", context=context, status_code=429,
                            headers={"Retry-After": str(wait)})  # fmt: skip
        key_hash = hash_key(data.get("api_key", "").strip())
        found = on_users_database(request, lambda conn: session_user(conn, key_hash))
        if found is None:
            throttle.failed(client_address(request))
            context = {"next": target, "error": "That API key is not valid."}
            return Template("signin.html.j2", context=context, status_code=401)
        begin_session(request, key_hash, found[1])
        return Redirect(target, status_code=303)

    @post("/signout", sync_to_thread=True, status_code=303)
    def signout(self, request: Request[Any, Any, State]) -> Redirect:
        """End the user's sessions on the server, then forget this browser's cookie."""
        user = signed_in_user(request)
        if user is not None:
            with write_transaction(primary_of(request)) as conn:
                end_sessions(conn, user.user_id)
        request.clear_session()
        return Redirect("/signin", status_code=303)

    @get("/backtests", sync_to_thread=True)
    def backtest_list(
        self,
        request: Request[Any, Any, State],
        sort: FromQuery[str] = "created_at",
        order: FromQuery[str] = "desc",
        page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_NUMBER)] = 1,
        symbol: FromQuery[str | None] = None,
        strategy: FromQuery[str | None] = None,
        as_of: FromQuery[str | None] = None,
    ) -> Page:
        user = reader_of(request)
        if user is None:
            return sign_in_first(request)
        moment = queries.parse_as_of(as_of) if as_of else None
        with read_connection(read_engine(request)) as conn:
            listing = queries.list_sorted(
                conn, owner_scope(user), sort=sort, descending=order != "asc", page=page,
                per_page=PER_PAGE, symbol=symbol or None, strategy=strategy or None,
                as_of=moment,
            )  # fmt: skip
            parameters = queries.parameters_of(conn, [i.backtest_id for i in listing.items])
        pages = max(1, math.ceil(listing.total / PER_PAGE))
        return Template(
            "list.html.j2",
            context={
                "user": user, "items": listing.items, "total": listing.total,
                "page": page, "pages": pages, "sort": sort, "order": order,
                "symbol": symbol or "", "strategy": strategy or "", "as_of": as_of or "",
                "metrics": METRIC_NAMES, "labels": LABELS, "parameters": parameters,
            },
        )  # fmt: skip

    @get("/backtests/{backtest_id:str}", sync_to_thread=True)
    def report(
        self,
        request: Request[Any, Any, State],
        backtest_id: FromPath[str],
        trades_page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_NUMBER)] = 1,
        significance: FromQuery[str] = "",
    ) -> Page:
        user = reader_of(request)
        if user is None:
            return sign_in_first(request)
        scope, backtest_id = owner_scope(user), canonical_id(backtest_id)
        engine = read_engine(request)
        budget = request.app.state.settings.significance_seconds
        params = SignificanceParams(samples=PAGE_RESAMPLES)
        # read before the page, so that a change made while it renders moves the tag
        tag = report_page_tag(request, user, backtest_id, trades_page, significance, params)
        if holds(request, tag):
            return not_modified(tag)
        with read_connection(engine) as conn:
            detail = queries.get_detail(conn, backtest_id, scope, with_trades=False)
            trades, trade_count = queries.trade_page(conn, backtest_id, trades_page, PER_PAGE)
        # A long backtest's bootstrap takes seconds: the page shows it once computed,
        # on request (a link), so that the page itself answers at once.
        deferred = len(detail.daily_results) * PAGE_RESAMPLES > PAGE_INLINE_DRAWS
        report: SignificanceReport | None = None
        if deferred and significance != "compute":
            report = stored_report(engine, backtest_id, scope, params, fit=True)
        else:
            deferred, deadline = False, time.monotonic() + budget
            try:
                report = report_for(
                    engine, backtest_id, scope, params, fit=True,
                    stop=lambda: time.monotonic() > deadline, store=primary_of(request),
                )  # fmt: skip
            except ReportAbandoned:
                report = None
        days = detail.daily_results
        span = (days[0].at.isoformat(), days[-1].at.isoformat())
        equity = [d.equity for d in days]
        against = against_benchmark(detail, span)
        return Template(
            "report.html.j2",
            context={
                "user": user, "b": detail, "metrics": METRIC_NAMES, "labels": LABELS,
                "equity_chart": line_chart(
                    [equity, *against["rebased"]], [detail.symbol, *against["names"]], span,
                    title=f"Equity of {detail.symbol}", fmt=",.0f"),
                "rolling_charts": against["charts"], "relative": against["relative"],
                "colours": PALETTE,
                "drawdown_chart": line_chart([drawdowns(equity)], ["drawdown"], span,
                                             title="Drawdown", height=160, fmt=".0%", area=True),
                "heatmap": heatmap(detail.monthly_results),
                "months": MONTHS,
                "sig": report, "budget": budget, "deferred": deferred and report is None,
                "trades": trades, "trade_count": trade_count, "trades_page": trades_page,
                "trade_pages": max(1, math.ceil(trade_count / PER_PAGE)),
                "parameters": json.dumps(detail.parameters, indent=2, sort_keys=True),
                "provenance": shown_provenance(detail.provenance),
                "kinds": KINDS, "is_owner": user.role is Role.USER,
            },
            # a page without its significance (not computed yet) is never kept
            headers=validators(tag) if report is not None else None,
        )  # fmt: skip

    @get("/backtests/{backtest_id:str}/csv/{kind:str}", sync_to_thread=True)
    def download(
        self, request: Request[Any, Any, State], backtest_id: FromPath[str], kind: FromPath[str]
    ) -> Any:
        user = reader_of(request)
        if user is None:
            return sign_in_first(request)
        if kind not in KINDS:
            raise NotFoundException(f"no {kind} export")
        return csv_download(request, read_engine(request), user, backtest_id, kind)

    @get("/backtests/{backtest_id:str}/delete", sync_to_thread=True)
    def confirm_delete(self, request: Request[Any, Any, State], backtest_id: FromPath[str]) -> Page:
        user = reader_of(request)
        if user is None:
            return sign_in_first(request)
        with read_connection(read_engine(request)) as conn:
            summary = queries.find_summary(conn, canonical_id(backtest_id), user.user_id)
        return Template("confirm_delete.html.j2", context={"user": user, "b": summary})

    @post("/backtests/{backtest_id:str}/delete", sync_to_thread=True, status_code=303)
    def delete(self, request: Request[Any, Any, State], backtest_id: FromPath[str]) -> Redirect:
        user = reader_of(request)
        if user is None:
            return sign_in_first(request)
        delete_backtest(primary_of(request), user, backtest_id)
        written(request)  # the list that follows reads past the deletion
        return Redirect("/backtests", status_code=303)

    @get("/compare", sync_to_thread=True)
    def compare_page(
        self,
        request: Request[Any, Any, State],
        ids: Annotated[list[str] | None, QueryParameter()] = None,
    ) -> Page:
        user = reader_of(request)
        if user is None:
            return sign_in_first(request)
        wanted = parse_ids(",".join(ids or []))
        with read_connection(read_engine(request)) as conn:  # 404 before anything is read
            versions = [backtest_version(conn, i, owner_scope(user))[1] for i in wanted]
        tag = page_tag(request, user, "compare page", CHART_POINTS,
                       *zip(wanted, versions, strict=True))  # fmt: skip
        if holds(request, tag):
            return not_modified(tag)
        comparison = compare(read_engine(request), wanted, owner_scope(user), CHART_POINTS)
        names = [f"{c.summary.symbol} · {c.summary.strategy} · {c.summary.backtest_id[:8]}"
                 for c in comparison.backtests]  # fmt: skip
        first = comparison.backtests[0].summary if comparison.backtests else None
        held = (None if first is None else
                benchmark_curve(read_engine(request), first.backtest_id, owner_scope(user),
                                CHART_POINTS))  # fmt: skip
        keys = {p.date for c in comparison.backtests for p in c.curve}
        keys |= {day for day, _ in held or []}
        # a day's curve beside an intraday one: each key on one axis of UTC times
        as_time = on_one_axis if any(isinstance(k, dt.datetime) for k in keys) else _same
        dates = sorted(map(as_time, keys))
        span = (dates[0].isoformat(), dates[-1].isoformat()) if dates else ("", "")
        index = {d: i for i, d in enumerate(dates)}

        def aligned(values: list[tuple[Any, float | None]]) -> list[float | None]:
            out: list[float | None] = [None] * len(dates)
            for day, value in values:
                out[index[day]] = value
            return out

        rebased = [aligned([(as_time(p.date), p.rebased) for p in c.curve])
                   for c in comparison.backtests]  # fmt: skip
        drawdown = [aligned([(as_time(p.date), p.drawdown) for p in c.curve])
                    for c in comparison.backtests]  # fmt: skip
        curve_names = list(names)
        if held is not None and first is not None:  # the first one's benchmark, held
            rebased.append(aligned([(as_time(day), value) for day, value in held]))
            curve_names.append(f"benchmark of {first.symbol} · {first.backtest_id[:8]}")
        return Template(
            "compare.html.j2",
            context={
                "user": user, "c": comparison, "names": names, "metrics": METRIC_NAMES,
                "labels": LABELS,
                "curve_names": curve_names,
                "equity_chart": line_chart(rebased, curve_names, span,
                                           title="Equity rebased to 1", fmt=".2f"),
                "drawdown_chart": line_chart(drawdown, names, span, title="Drawdowns",
                                             height=200, fmt=".0%"),
                "colours": PALETTE,
            },
            headers=validators(tag),
        )  # fmt: skip


def heatmap(months: list[Any]) -> list[dict[str, Any]]:
    """Year rows of twelve month cells (value, colour), with the compounded year."""
    years: dict[int, list[float | None]] = {}
    for m in months:
        year, month = int(m.month[:4]), int(m.month[5:])
        years.setdefault(year, [None] * 12)[month - 1] = m.return_
    rows = []
    for year in sorted(years):
        cells = years[year]
        known = [v for v in cells if v is not None]
        total = math.prod(1 + v for v in known) - 1 if known else None
        rows.append(
            {
                "year": year,
                "cells": [(v, heat_colour(v)) for v in cells],
                "total": (total, heat_colour(total, 0.3)),
            }
        )
    return rows


def shown_provenance(provenance: Provenance | None) -> dict[str, str]:
    """The provenance as the report shows it: dotted paths and their values as text."""
    document = provenance_document(provenance)
    if document is None:
        return {}
    return {path: json.dumps(value) if isinstance(value, bool) else str(value)
            for path, value in flatten(document).items()}  # fmt: skip


SHOWN_PARAMETERS = 80  # characters of parameters a list row shows; the report has all


def compact(parameters: dict[str, Any] | str) -> str:
    """Parameters as ``fast=10, slow=30``, cut to ``SHOWN_PARAMETERS`` characters."""
    text = parameters if isinstance(parameters, str) else ", ".join(
        f"{k}={v}" for k, v in parameters.items())  # fmt: skip
    return text if len(text) <= SHOWN_PARAMETERS else text[: SHOWN_PARAMETERS - 1] + "…"


def template_filters() -> dict[str, Any]:
    return {
        "metric": lambda value, name: fmt_metric(name, value),
        "pct": lambda value: "—" if value is None else f"{value:.2%}",
        "num": lambda value, digits=4: "—" if value is None else f"{value:.{digits}f}",
        "compact": compact,
    }


def _same(key: dt.date) -> dt.date:
    return key
