"""/api/v1/experiments: the caller's sweeps, and a whole sweep as one CSV or Parquet."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream

from api.auth import owner_scope, requires
from api.conditional import etag, holds, not_modified, validators
from api.reads import read_engine
from api.routes.backtests import (
    NO_NUL,
    READER_ROLES,
    SortParameter,
    WhereParameter,
    attachment_named,
)
from api.streams import started_stream
from infrastructure.byte_cache import ByteCache
from infrastructure.database import read_connection
from infrastructure.users import User
from projections.experiments import (
    MAX_SWEEP_COLUMNS,
    ExperimentNotFound,
    ExperimentRow,
    experiment_exists,
    parse_columns,
)
from projections.experiments import list_experiments as experiments_of
from projections.search import search_query
from projections.sweep_export import MEDIA_TYPES, SweepFormat, stream_sweep
from projections.versions import experiment_version

READERS = requires(*READER_ROLES)
ExperimentName = Annotated[
    str,
    PathParameter(
        min_length=1, max_length=200, pattern=NO_NUL, description="The experiment's name."
    ),
]


ConventionsParameter = Annotated[
    bool,
    QueryParameter(
        description="add the headline figures in backtesting.py's and quantstats' "
        "conventions as columns after the metrics"
    ),
]


# what a URL carries through the HTTP server (a longer query is refused before the
# app sees it): about 1,000 paths of 7 characters
MAX_COLUMNS_TEXT = 8_000
ColumnsParameter = Annotated[
    str | None,
    QueryParameter(
        max_length=MAX_COLUMNS_TEXT,
        description="only these parameters as columns (dotted paths, comma-separated; "
        f"at most {MAX_SWEEP_COLUMNS:,}). Needed when the sweep has more than "
        f"{MAX_SWEEP_COLUMNS:,} distinct parameters",
    ),
]


LimitParameter = Annotated[
    int | None,
    QueryParameter(ge=1, description="only the first rows, in the order of `sort`"),
]


def sweep_download(
    request: Request[Any, Any, Any],
    engine: sa.Engine,
    user: User,
    name: str,
    form: SweepFormat,
    sort: str | None,
    where: str | None,
    conventions: bool = False,
    columns: str | None = None,
    limit: int | None = None,
) -> Stream | Response[bytes]:
    """The sweep's table (its first ``limit`` rows), streamed, or 404 (before any byte)
    for an unknown experiment; 304 for a client that holds it as it is (its tag is
    ``experiment_version`` and the request's own terms). A table of at most
    ``STREAM_KEPT_BYTES`` is kept with its tag once sent, as a backtest's detail is: the
    next reader of the sweep as it is, with the same terms, is sent those bytes."""
    owner = owner_scope(user)
    query = search_query(owner, sort=sort or "created_at", where=where, experiment=name)
    chosen = parse_columns(columns)
    with read_connection(engine) as conn:
        if not experiment_exists(conn, name, owner):
            raise ExperimentNotFound(name)
        version = experiment_version(conn, name, owner)
    tag = etag("sweep", form, name, owner, version, sort, where, conventions, columns, limit)
    if holds(request, tag):
        return not_modified(tag)
    headers = {"Content-Disposition": attachment_named(f"{name}_backtests.{form}"),
               **validators(tag)}  # fmt: skip
    kept_answers: ByteCache = request.app.state.details
    key = ("sweep", tag)  # the tag names the reader, the terms and the sweep's version
    kept = kept_answers.get(key)
    if kept is not None:
        return Response(kept[1], media_type=MEDIA_TYPES[form], headers=headers)
    table = stream_sweep(engine, query, form, limit, conventions=conventions, columns=chosen)
    return started_stream(kept_answers.kept_as_sent(key, tag, table), MEDIA_TYPES[form], headers)


class ExperimentController(Controller):
    path = "/experiments"
    tags = ["experiments"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", operation_id="listExperiments", guards=[READERS], sync_to_thread=True)
    def list_experiments(self, request: Request[User, Any, State]) -> list[ExperimentRow]:
        """The caller's experiments (an auditor's: everyone's), most recently used first:
        live backtests, trials (every backtest ever recorded in it, deleted included),
        the best live Sharpe, and when the first and last were recorded."""
        with read_connection(read_engine(request)) as conn:
            return experiments_of(conn, owner_scope(request.user))

    @get(
        "/{name:str}/backtests.csv",
        operation_id="downloadExperimentCsv",
        guards=[READERS],
        sync_to_thread=True,
        media_type="text/csv",
    )
    def sweep_csv(
        self,
        request: Request[User, Any, State],
        name: ExperimentName,
        sort: SortParameter = None,
        where: WhereParameter = None,
        conventions: ConventionsParameter = False,
        columns: ColumnsParameter = None,
        limit: LimitParameter = None,
    ) -> Stream:
        """One row per live backtest of the experiment: backtest_id, created_at, the list
        fields, every metric, with ``conventions`` the same figures as backtesting.py and
        quantstats compute them (``backtesting_py.sharpe``...), then param.<dotted path>
        columns (oldest first unless ``sort``; filtered by ``where``)."""
        return sweep_download(request, read_engine(request), request.user, name, "csv", sort,
                              where, conventions, columns, limit)  # type: ignore[return-value]  # fmt: skip

    @get(
        "/{name:str}/backtests.parquet",
        operation_id="downloadExperimentParquet",
        guards=[READERS],
        sync_to_thread=True,
        media_type=MEDIA_TYPES["parquet"],
    )
    def sweep_parquet(
        self,
        request: Request[User, Any, State],
        name: ExperimentName,
        sort: SortParameter = None,
        where: WhereParameter = None,
        conventions: ConventionsParameter = False,
        columns: ColumnsParameter = None,
        limit: LimitParameter = None,
    ) -> Stream:
        """The same table as backtests.csv, typed, as Parquet."""
        engine = read_engine(request)
        return sweep_download(request, engine, request.user, name, "parquet", sort, where,
                              conventions, columns, limit)  # type: ignore[return-value]  # fmt: skip
