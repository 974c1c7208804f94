"""The experiment pages: the signed-in user's sweeps, and one sweep as a table to sort
and filter with the ``where`` language, a heatmap of a metric over two parameters, the
best variant's Deflated Sharpe with the count of variants tried, and the top N to
compare. Scoped exactly like the API (an auditor sees everyone's)."""

from __future__ import annotations

import urllib.parse
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect, Template

from api.auth import owner_scope
from api.reads import read_engine, written
from api.routes.experiments import ExperimentName, sweep_download
from api.web.charts import grid_heatmap, histogram_chart, scatter_chart
from api.web.pages import (
    LABELS,
    PER_PAGE,
    Page,
    primary_of,
    reader_of,
    sign_in_first,
)
from domain.analysis_request import AnalysisRequest
from domain.metrics import METRIC_NAMES
from domain.parameters import flatten
from domain.search import BadExpression
from infrastructure.database import read_connection, snapshot
from infrastructure.tables import backtests
from infrastructure.users import Role
from projections.analyses import latest_analysis, request_analysis
from projections.cursors import BadCursor
from projections.experiments import (
    ExperimentNotFound,
    experiment_exists,
    list_experiments,
    parameter_grid,
    parse_columns,
    sweep_columns,
)
from projections.search import search_query, search_rows
from projections.significance import deflated
from projections.sweep_matrix import trial_ids
from projections.views import BacktestSummary

SHOWN_CHARS = 40  # a parameter's value beyond this is cut on the page (the detail has it)


def shown(value: Any) -> str:
    """A parameter's value as the table shows it, cut to ``SHOWN_CHARS``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def analysis_panel(conn: Any, name: str, owner: str | None) -> dict[str, Any] | None:
    """The experiment's latest analysis as the page shows it: where it stands, and once
    done its figures and charts, and whether the trials have changed since."""
    job = latest_analysis(conn, owner, name)
    if job is None:
        return None
    panel: dict[str, Any] = {"job": job, "result": None}
    if job.result is not None:
        result = msgspec.json.decode(job.result)
        pbo, scatter = result["pbo"], result.get("scatter") or {}
        analysed = {*result["matrix"]["backtest_ids"],
                    *(x["backtest_id"] for x in result["matrix"]["left_out"])}  # fmt: skip
        if result["superior_ability"]["benchmark"] is not None:
            analysed.add(result["superior_ability"]["benchmark"])
        panel.update(
            result=result,
            stale=analysed != set(trial_ids(conn, name, job.owner_id)),
            histogram=histogram_chart(pbo["histogram_counts"], pbo["histogram_edges"],
                                      title="Logits λ of the best variant's out-of-sample rank",
                                      marker=0.0),
            scatter=scatter_chart(scatter.get("in_sample", []), scatter.get("out_of_sample", []),
                                  title="Best variant: out-of-sample Sharpe on in-sample Sharpe",
                                  labels=("in sample", "out of sample")),
        )  # fmt: skip
    return panel


def _best(conn: Any, name: str, owner: str | None) -> BacktestSummary | None:
    query = search_query(owner, limit=1, sort="-sharpe", experiment=name)
    rows, _ = search_rows(conn, (backtests.c.list_item,), query)
    return msgspec.json.decode(rows[0][0], type=BacktestSummary) if rows else None


class ExperimentPages(Controller):
    include_in_schema = False

    @get("/experiments", sync_to_thread=True)
    def experiments(self, request: Request[Any, Any, State]) -> Page:
        user = reader_of(request)
        if user is None:
            return sign_in_first(request)
        with read_connection(read_engine(request)) as conn:
            rows = list_experiments(conn, owner_scope(user))
        return Template("experiments.html.j2", context={"user": user, "rows": rows})

    @get("/experiments/{name:str}", sync_to_thread=True)
    def experiment(
        self,
        request: Request[Any, Any, State],
        name: ExperimentName,
        sort: FromQuery[str] = "-sharpe",
        where: FromQuery[str] = "",
        cursor: FromQuery[str | None] = None,
        metric: FromQuery[str] = "sharpe",
        x: FromQuery[str | None] = None,
        y: FromQuery[str | None] = None,
        columns: FromQuery[str] = "",
    ) -> Page:
        user = reader_of(request)
        if user is None:
            return sign_in_first(request)
        scope = owner_scope(user)
        error = None
        with snapshot(read_engine(request)) as conn:  # one snapshot for the page's queries
            if not experiment_exists(conn, name, scope):
                raise ExperimentNotFound(name)
            whole = search_query(scope, limit=PER_PAGE, sort="-sharpe", experiment=name)
            table = sweep_columns(conn, whole, columns=parse_columns(columns))
            paths = list(table.parameters)
            read = (backtests.c.list_item, backtests.c.parameters)
            try:
                query = search_query(scope, limit=PER_PAGE, cursor=cursor, sort=sort,
                                     where=where or None, experiment=name)  # fmt: skip
                rows, next_cursor = search_rows(conn, read, query)
            except (BadExpression, BadCursor) as exc:  # shown beside the form, kept as typed
                error, query = str(exc), whole
                rows, next_cursor = search_rows(conn, read, whole)
            metric = metric if metric in METRIC_NAMES else "sharpe"
            axes = [*table.varying, *(p for p in paths if p not in table.varying)]
            x = x if x in paths else (axes[0] if axes else None)
            y = y if y in paths else (axes[1] if len(axes) > 1 else x)
            cells = parameter_grid(conn, query, metric, x, y) if x and y else []
            best = _best(conn, name, scope)
            dsr = deflated(conn, best.backtest_id, scope) if best is not None else None
            panel = analysis_panel(conn, name, scope)
        items = [
            (msgspec.json.decode(item, type=BacktestSummary), flatten(parameters or {}))
            for item, parameters in rows
        ]
        heatmap = grid_heatmap(
            [(c.x, c.y, c.mean, c.count) for c in cells], x_name=x or "", y_name=y or "",
            title=f"Mean {LABELS[metric]} by {x} and {y}",
        )  # fmt: skip
        keep = {"sort": sort, "where": where, "metric": metric, "x": x or "", "y": y or "",
                "columns": columns}  # fmt: skip
        return Template(
            "experiment.html.j2",
            context={
                "user": user, "name": name, "items": items, "paths": paths, "shown": shown,
                "metrics": METRIC_NAMES, "labels": LABELS, "sort": sort, "where": where,
                "error": error, "metric": metric, "x": x, "y": y, "heatmap": heatmap,
                "best": best, "dsr": dsr, "next_cursor": next_cursor, "panel": panel,
                "can_analyse": user.role is Role.USER,
                "quoted": urllib.parse.quote(name, safe=""),
                "keep": urllib.parse.urlencode(keep),
                # a refresh to the URL as it is would be a jump to its #fragment (after
                # the form's redirect to #analysis), not a reload
                "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            },
            status_code=400 if error else 200,
        )  # fmt: skip

    @post("/experiments/{name:str}/analyses", sync_to_thread=True, status_code=303)
    def analyse(self, request: Request[Any, Any, State], name: ExperimentName) -> Any:
        """Queue the analysis of the sweep with the default inputs, then show the page
        (it refreshes itself while the analysis runs)."""
        user = reader_of(request)
        if user is None:
            return sign_in_first(request)
        if user.role is not Role.USER:
            raise NotAuthorizedException("only the experiment's owner analyses it")
        request_analysis(primary_of(request), user.user_id, name, AnalysisRequest())
        written(request)
        return Redirect(f"/experiments/{urllib.parse.quote(name, safe='')}#analysis",
                        status_code=303)  # fmt: skip

    @get("/experiments/{name:str}/backtests.csv", sync_to_thread=True)
    def download(
        self,
        request: Request[Any, Any, State],
        name: ExperimentName,
        sort: FromQuery[str] = "created_at",
        where: FromQuery[str] = "",
        columns: FromQuery[str] = "",
    ) -> Any:
        """The whole sweep as CSV, for the signed-in user (the API's table)."""
        user = reader_of(request)
        if user is None:
            return sign_in_first(request)
        return sweep_download(request, read_engine(request), user, name, "csv", sort,
                              where or None, columns=columns)  # fmt: skip

    @get("/experiments/{name:str}/compare", sync_to_thread=True)
    def compare_top(
        self,
        request: Request[Any, Any, State],
        name: ExperimentName,
        top: Annotated[int, QueryParameter(ge=2, le=8)] = 4,
        sort: FromQuery[str] = "-sharpe",
        where: FromQuery[str] = "",
    ) -> Page:
        """The compare page of the sweep's first ``top`` backtests in this order."""
        user = reader_of(request)
        if user is None:
            return sign_in_first(request)
        query = search_query(owner_scope(user), limit=top, sort=sort, where=where or None,
                             experiment=name)  # fmt: skip
        with read_connection(read_engine(request)) as conn:
            rows, _ = search_rows(conn, (backtests.c.backtest_id,), query)
        if len(rows) < 2:
            raise ExperimentNotFound(name)
        ids = urllib.parse.urlencode([("ids", backtest_id) for (backtest_id,) in rows])
        return Redirect(f"/compare?{ids}", status_code=303)
