"""/api/v1/backtests: record, list, detail, delete, CSV downloads and stream history."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
import uuid
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from litestar import Controller, MediaType, Request, delete, get, post
from litestar.concurrency import sync_to_thread
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.params import HeaderParameter, PathParameter, QueryParameter
from litestar.response import Response, Stream

from api.auth import (
    AUTHENTICATES_ON_READ,
    authenticated_read,
    authenticated_version,
    authenticated_with,
    owner_scope,
    requires,
)
from api.cancellation import run_while_awaited
from api.conditional import etag, holds, not_modified, validators
from api.handlers import (
    Decided,
    Recorded,
    RecordOutcome,
    RequestContext,
    delete_backtest,
    exclude_from_trials,
    record_backtest,
)
from api.openapi import answer
from api.reads import read_engine, written
from api.schemas import EventOut, StreamHistory
from api.streams import started_stream
from domain.errors import BacktestNotFound
from domain.ids import canonical_id
from domain.submission import parse_exclusion_reason, parse_submission
from infrastructure.byte_cache import ByteCache
from infrastructure.database import read_connection
from infrastructure.event_store import load_stream
from infrastructure.idempotency import request_hash
from infrastructure.users import Role, User
from projections import documents, queries
from projections.compare import (
    COMPARED_IDS,
    MAX_POINTS,
    MIN_POINTS,
    Comparison,
    compare,
    parse_ids,
    stream_comparison,
)
from projections.documents import ADDED_FIELDS_PATTERN
from projections.search import search_json, search_query
from projections.significance import (
    DEFAULT_SAMPLES,
    MIN_SAMPLES,
    ReportAbandoned,
    SignificanceParams,
    SignificanceReport,
    report_for,
    report_inputs,
)
from projections.versions import backtest_version, stream_version
from projections.views import BacktestDetail, BacktestPage

READER_ROLES = (Role.USER, Role.AUDITOR)
READERS = requires(*READER_ROLES)
WRITERS = requires(Role.USER)
BacktestId = Annotated[str, PathParameter(description="The backtest's id (a UUID).")]
# An exclusion's body is a reason of at most 500 characters: 4 bytes each, and room.
# 500 characters of reason, each escaped as a surrogate pair (12 bytes) at worst
EXCLUSION_BODY_BYTES = 8 * 1024


class Excluded(msgspec.Struct, frozen=True):
    """An exclusion from the trials, appended at ``position``."""

    backtest_id: str
    position: int
    reason: str


IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Repeat a POST safely: the same key and body return the first answer.",
    ),
]
AsOfParameter = Annotated[
    str | None,
    QueryParameter(
        description="A past moment: an ISO 8601 time with offset, or position:N (as of the "
        "feed up to and including the event at position N).",
    ),
]


# No store keeps a NUL in text (PostgreSQL refuses it): a 400, never a query.
NO_NUL = r"^[^\x00]*$"
ExperimentParameter = Annotated[
    str | None,
    QueryParameter(
        min_length=1, max_length=200, pattern=NO_NUL, description="only this experiment (sweep)"
    ),
]
SortParameter = Annotated[
    str | None,
    QueryParameter(
        max_length=64,
        description="a metric or list field to order by, '-' first for descending "
        "(e.g. -sharpe); nulls last either way",
    ),
]
WhereParameter = Annotated[
    str | None,
    QueryParameter(
        max_length=4096,
        description="a filter, e.g. sharpe > 1.2 and parameters.fast in (5, 10) and "
        "symbol = 'SPX' (comparisons, in, is [not] null, and, or, not, parentheses)",
    ),
]


# What a client's trace ids may be to be kept in the event metadata (covered by the
# hash, shown to auditors): short, and of characters no log or page misreads.
TRACE_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,200}")


def trace_id(header: str | None) -> str | None:
    """A client's request, correlation or causation id as sent, or None (a fresh id is
    used instead) when it is longer than 200 characters or has others than
    ``TRACE_ID``'s."""
    return header if header is not None and TRACE_ID.fullmatch(header) else None


async def _record(
    request: Request[User, Any, State], idempotency_key: str | None
) -> tuple[RecordOutcome, dict[str, str]]:
    body = bytearray()
    async for chunk in request.stream():  # within the body limit, and not kept
        body += chunk
    engine: sa.Engine = request.app.state.engine
    context = _context(request, idempotency_key, body)
    # The body is let go once parsed (Litestar's request.body() would keep it to the
    # end): a long backtest's body then does not sit beside its read-model rows.
    unparsed = [body]
    del body

    def work() -> tuple[RecordOutcome, dict[str, str]]:
        submission, sanitized = parse_submission(unparsed.pop())
        outcome = record_backtest(engine, request.user, submission, sanitized, context)
        return outcome, written(request)

    return await sync_to_thread(work)


def json_only(request: Request[Any, Any, Any], what: str) -> None:
    """A 415 unless the body is declared JSON (or not declared)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/json", ""):
        raise HTTPException(status_code=415, detail=f"send {what} as application/json")


def _context(
    request: Request[Any, Any, Any],
    key: str | None,
    body: bytes | bytearray,
    target: str = "",
) -> RequestContext:
    return RequestContext(
        request_id=trace_id(request.headers.get("x-request-id")) or str(uuid.uuid4()),
        correlation_id=trace_id(request.headers.get("x-correlation-id")),
        causation_id=trace_id(request.headers.get("x-causation-id")),
        idempotency_key=key,
        body_hash=request_hash(body, target) if key is not None else None,
    )


def attachment(symbol: str, backtest_id: str, kind: str) -> str:
    """The Content-Disposition of one of a backtest's CSV exports."""
    return attachment_named(f"{symbol}_{backtest_id}_{kind}.csv")


def attachment_named(filename: str) -> str:
    """A Content-Disposition no name can break: an ASCII fallback, plus RFC 5987 with
    "/" and every byte that is not unreserved (bidirectional controls too) encoded."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    quoted = urllib.parse.quote(filename, safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"


def csv_download(request: Request[Any, Any, Any], engine: sa.Engine, user: User,
                 backtest_id: str, kind: str) -> Response[Any]:  # fmt: skip
    """A CSV download of a backtest the user may read, for a signed-in page."""
    backtest_id, scope = canonical_id(backtest_id), owner_scope(user)
    kept, found = kept_answer(request, (backtest_id, kind)), None
    if kept is not None or request.headers.get("if-none-match"):
        with read_connection(engine) as conn:
            found = backtest_version(conn, backtest_id, scope)
    return kept_or_read(request, engine, scope, backtest_id, kind, found, kept)  # type: ignore[arg-type]


def kept_answer(request: Request[Any, Any, Any], key: tuple[str, str]) -> tuple[str, bytes] | None:
    """The tag and bytes this process keeps of a backtest's answer (its detail or a
    CSV), if any: kept, or held by the client, the version then decides before anything
    else is read."""
    details: ByteCache = request.app.state.details
    return details.get(key)


def kept_or_read(
    request: Request[Any, Any, Any],
    engine: sa.Engine,
    scope: str | None,
    backtest_id: str,
    kind: documents.DocumentKind,
    found: tuple[str, int] | None,
    kept: tuple[str, bytes] | None,
    moment: queries.AsOf | None = None,
) -> Response[Any]:
    """One backtest's document (its detail or a CSV): given its (symbol, version) as
    ``found``, a 304 for a client that holds it, or the ``kept`` bytes if kept at that
    version; else read (404 before any byte), and kept as it is sent if it fits."""
    details: ByteCache = request.app.state.details
    media_type = MediaType.JSON if kind == "detail" else "text/csv"
    if found is not None:
        symbol, version = found
        tag = etag(kind, backtest_id, version)  # the same bytes at any as_of
        if holds(request, tag):
            return not_modified(tag)
        if kept is not None and kept[0] == tag:
            headers = _headers(kind, tag, backtest_id, symbol)
            return Response(kept[1], media_type=media_type, headers=headers)
    document = documents.read_document(engine, backtest_id, kind, scope, moment)
    tag = etag(kind, backtest_id, document.version)
    headers = _headers(kind, tag, backtest_id, document.symbol)
    if isinstance(document.body, bytes):
        details.put((backtest_id, kind), tag, document.body)
        return Response(document.body, media_type=media_type, headers=headers)
    parts = details.kept_as_sent((backtest_id, kind), tag, document.body)
    return Stream(parts, media_type=media_type, headers=headers)


def _headers(kind: str, tag: str, backtest_id: str, symbol: str) -> dict[str, str]:
    if kind == "detail":
        return validators(tag)
    return {"Content-Disposition": attachment(symbol, backtest_id, kind), **validators(tag)}


def _reader_and_version(
    request: Request[Any, Any, Any],
    backtest_id: str,
    moment: queries.AsOf | None,
    conditional: bool,
) -> tuple[str | None, tuple[str, int] | None]:
    """Whose backtests the caller reads, and, for a ``conditional`` read (an answer kept
    or one the client holds), the backtest's symbol and stream version. Nothing kept,
    nothing held: none, as the document is read at once with its own. The live version
    is read in one statement with the caller: a kept answer or a 304 costs one pooled
    connection and one round trip, as the trivial route does."""
    if conditional and moment is None:
        with authenticated_version(request, READER_ROLES, backtest_id) as (_, user, found):
            return owner_scope(user), found
    with authenticated_read(request, READER_ROLES) as (conn, user):
        scope = owner_scope(user)
        if not conditional:
            return scope, None
        return scope, backtest_version(conn, backtest_id, scope, moment)


def _one_document(
    request: Request[Any, Any, Any],
    backtest_id: str,
    kind: documents.DocumentKind,
    moment: queries.AsOf | None = None,
) -> Response[Any]:
    """An API read of one backtest's detail or CSV, by a caller the handler looks up
    itself (``AUTHENTICATES_ON_READ``)."""
    kept = kept_answer(request, (backtest_id, kind))
    conditional = kept is not None or bool(request.headers.get("if-none-match"))
    scope, found = _reader_and_version(request, backtest_id, moment, conditional)
    return kept_or_read(request, read_engine(request), scope, backtest_id, kind, found, kept,
                        moment)  # fmt: skip


class BacktestController(Controller):
    path = "/backtests"
    tags = ["backtests"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/",
        operation_id="recordBacktest",
        guards=[WRITERS],
        status_code=201,
        summary="Record a backtest",
    )
    async def record(
        self, request: Request[User, Any, State], idempotency_key: IdempotencyKey = None
    ) -> Response[Recorded]:
        """Record a backtest's results. ``NaN``/``Infinity`` tokens are accepted and stored
        as null; their JSON pointers are kept as ``sanitized_fields``."""
        json_only(request, "the backtest")
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else request.app.state.settings.max_body_bytes
        async with request.app.state.body_budget.holding(size):
            outcome, consistency = await _record(request, idempotency_key)
        headers = {"Location": f"/api/v1/backtests/{outcome.recorded.backtest_id}"}
        headers.update(consistency)
        if outcome.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(outcome.recorded, status_code=201, headers=headers)

    @get(
        "/",
        operation_id="listBacktests",
        opt={AUTHENTICATES_ON_READ: True},
        sync_to_thread=True,
        responses={200: answer(BacktestPage, "A page of backtests, newest first")},
    )
    def list_backtests(
        self,
        request: Request[None, str, State],
        limit: Annotated[int, QueryParameter(ge=1, le=queries.MAX_PAGE)] = 50,
        cursor: Annotated[
            str | None, QueryParameter(description="next_cursor of the previous page")
        ] = None,
        symbol: Annotated[
            str | None, QueryParameter(pattern=NO_NUL, description="only this symbol")
        ] = None,
        strategy: Annotated[
            str | None, QueryParameter(pattern=NO_NUL, description="only this strategy")
        ] = None,
        as_of: AsOfParameter = None,
        experiment: ExperimentParameter = None,
        sort: SortParameter = None,
        where: WhereParameter = None,
        fields: Annotated[
            str | None,
            QueryParameter(
                pattern=ADDED_FIELDS_PATTERN,
                description="add to each item its recorded `parameters`, `provenance` "
                "or both (comma-separated), read from the list model: no detail is read",
            ),
        ] = None,
    ) -> Response[bytes]:
        """The caller's backtests, newest first (an auditor's: everyone's), or searched:
        ``where`` filters by any metric, list field or parameter and ``sort`` orders by
        any metric or list field (nulls last); with ``as_of``, the list exactly as it
        stood then (later deletions shown, later records not)."""
        added = list(dict.fromkeys(fields.split(","))) if fields else []
        if sort is None and where is None and experiment is None and not (as_of or cursor):
            # the first page of the list: the caller and their page in one statement
            own = queries.ListQuery(None, limit=limit, symbol=symbol, strategy=strategy)
            with authenticated_with(
                request, READER_ROLES,
                lambda conn, key_hash: documents.callers_list_json(conn, key_hash, own, added),
            ) as (conn, user, page):  # fmt: skip
                if page is None or owner_scope(user) is None:  # an auditor reads everyone's
                    mine = dataclasses.replace(own, owner_id=owner_scope(user))
                    page = documents.list_json(conn, mine, added)
            return Response(page, media_type=MediaType.JSON)
        with authenticated_read(request, READER_ROLES) as (conn, user):
            if sort is None and where is None and experiment is None:
                query = queries.ListQuery(
                    owner_scope(user),
                    limit=limit,
                    cursor=cursor,
                    symbol=symbol,
                    strategy=strategy,
                    as_of=queries.parse_as_of(as_of) if as_of else None,
                )
                page = documents.list_json(conn, query, added)
            else:
                found = search_query(
                    owner_scope(user), limit=limit, cursor=cursor, sort=sort, where=where,
                    symbol=symbol, strategy=strategy, experiment=experiment, as_of=as_of,
                )  # fmt: skip
                page = search_json(conn, found, added)
        return Response(page, media_type=MediaType.JSON)

    @get(
        "/compare",
        operation_id="compareBacktests",
        guards=[READERS],
        sync_to_thread=True,
        responses={200: answer(Comparison, "The backtests compared")},
    )
    def compare(
        self,
        request: Request[User, Any, State],
        ids: Annotated[
            str,
            QueryParameter(
                pattern=COMPARED_IDS, description="2 to 8 backtest ids, comma-separated"
            ),
        ],
        points: Annotated[
            int | None,
            QueryParameter(
                ge=MIN_POINTS,
                le=MAX_POINTS,
                description="at most this many points a curve: the compared period in "
                "points/4 equal spans, and in each the days of a curve's lowest and highest "
                "rebased equity and drawdown (default: every day, streamed)",
            ),
        ] = None,
    ) -> Response[bytes] | Stream:
        """Backtests side by side: metrics, equity rebased to 1 with drawdowns, and monthly
        returns by column."""
        wanted, viewer = parse_ids(ids), owner_scope(request.user)
        engine = read_engine(request)
        with read_connection(engine) as conn:
            versions = [backtest_version(conn, i, viewer)[1] for i in wanted]
        tag = etag("compare", points, *zip(wanted, versions, strict=True))
        if holds(request, tag):
            return not_modified(tag)
        if points is not None:
            document = msgspec.json.encode(compare(engine, wanted, viewer, points))
            return Response(document, media_type=MediaType.JSON, headers=validators(tag))
        # every backtest found (or 404) before a byte is sent
        return started_stream(stream_comparison(engine, wanted, viewer), MediaType.JSON,
                              validators(tag))  # fmt: skip

    @get(
        "/{backtest_id:str}",
        operation_id="getBacktest",
        opt={AUTHENTICATES_ON_READ: True},
        sync_to_thread=True,
        responses={200: answer(BacktestDetail, "Everything about one backtest")},
    )
    def detail(
        self,
        request: Request[None, str, State],
        backtest_id: BacktestId,
        as_of: AsOfParameter = None,
    ) -> Response[bytes]:
        """Everything about one backtest: fields, daily and monthly results, trades, metrics
        (with ``as_of``: as it was then, if it was live then). Its ``ETag`` changes with
        the backtest's stream; ``If-None-Match`` with it answers 304 without reading
        the series, and each process keeps recent details rendered."""
        moment = queries.parse_as_of(as_of) if as_of else None
        return _one_document(request, canonical_id(backtest_id), "detail", moment)

    @delete(
        "/{backtest_id:str}",
        operation_id="deleteBacktest",
        guards=[WRITERS],
        sync_to_thread=True,
        status_code=204,
    )
    def remove(self, request: Request[User, Any, State], backtest_id: BacktestId) -> Response[None]:
        """Withdraw a backtest from the live views (the log keeps it; a second delete is 404)."""
        context = _context(request, None, b"")
        delete_backtest(request.app.state.engine, request.user, backtest_id, context)
        return Response(None, status_code=204, headers=written(request))

    @post(
        "/{backtest_id:str}/exclusion",
        operation_id="excludeBacktestFromTrials",
        guards=[WRITERS],
        status_code=201,
        request_max_body_size=EXCLUSION_BODY_BYTES,
    )
    async def exclude(
        self,
        request: Request[User, Any, State],
        backtest_id: BacktestId,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Excluded]:
        """Mark a backtest as a mistake or a test, not a variant tried, with a reason
        (``{"reason": "..."}``): it stays listed, but significance reports no longer
        count it as a trial (they count it as excluded). Appends
        ``BacktestExcludedFromTrials``; a second exclusion is 409 (a retry with the
        first one's ``Idempotency-Key`` gets the first answer)."""
        backtest_id = canonical_id(backtest_id)
        json_only(request, "the reason")
        body = await request.body()
        reason = parse_exclusion_reason(body)
        context = _context(request, idempotency_key, body, target=backtest_id)

        def work() -> Decided:
            return exclude_from_trials(
                request.app.state.engine, request.user, backtest_id, reason, context
            )

        decided = await sync_to_thread(work)
        headers = written(request)
        if decided.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(Excluded(backtest_id, decided.position, reason), status_code=201,
                        headers=headers)  # fmt: skip

    @get(
        "/{backtest_id:str}/daily.csv",
        operation_id="downloadDailyCsv",
        opt={AUTHENTICATES_ON_READ: True},
        sync_to_thread=True,
        media_type="text/csv",
    )
    def daily_csv(
        self, request: Request[None, str, State], backtest_id: BacktestId
    ) -> Response[bytes]:
        """date, equity, return, drawdown (+ cash, position, benchmark_return when given)."""
        return _one_document(request, canonical_id(backtest_id), "daily")

    @get(
        "/{backtest_id:str}/monthly.csv",
        operation_id="downloadMonthlyCsv",
        opt={AUTHENTICATES_ON_READ: True},
        sync_to_thread=True,
        media_type="text/csv",
    )
    def monthly_csv(
        self, request: Request[None, str, State], backtest_id: BacktestId
    ) -> Response[bytes]:
        """month, return, start_equity, end_equity (derived from daily when not given)."""
        return _one_document(request, canonical_id(backtest_id), "monthly")

    @get(
        "/{backtest_id:str}/trades.csv",
        operation_id="downloadTradesCsv",
        opt={AUTHENTICATES_ON_READ: True},
        sync_to_thread=True,
        media_type="text/csv",
    )
    def trades_csv(
        self, request: Request[None, str, State], backtest_id: BacktestId
    ) -> Response[bytes]:
        """trade_no, side, entry_time, exit_time, prices, quantity, pnl, return, fees."""
        return _one_document(request, canonical_id(backtest_id), "trades")

    @get(
        "/{backtest_id:str}/significance",
        operation_id="getBacktestSignificance",
        guards=[READERS],
    )
    async def significance(
        self,
        request: Request[User, Any, State],
        backtest_id: BacktestId,
        seed: Annotated[int, QueryParameter(ge=0, le=2**32 - 1, description="bootstrap seed")] = 0,
        samples: Annotated[
            int | None,
            QueryParameter(
                ge=MIN_SAMPLES,
                le=100_000,
                description="bootstrap resamples (default: 10,000, or as many as fit under "
                "the 50,000,000 draws one report may take; given, more than fit is a 400)",
            ),
        ] = None,
        level: Annotated[
            float, QueryParameter(gt=0.5, lt=1.0, description="confidence level")
        ] = 0.95,
        block_length: Annotated[
            float | None,
            QueryParameter(
                ge=1,
                le=10_000,
                description="expected block length, in returns (default: optimal); "
                "1 resamples single returns",
            ),
        ] = None,
    ) -> Response[SignificanceReport]:
        """Is it luck? Bootstrap intervals of the mean return and Sharpe, the bootstrap
        p-value of mean ≤ 0, the Probabilistic and Deflated Sharpe Ratios (the trials
        being every backtest this user recorded for this symbol and strategy, deleted
        ones included) and walk-forward consistency. The same seed gives the same
        numbers. A report is computed once for the same parameters and trials, then
        read back; the computation stops when the client goes away, and past the
        service's time budget answers 503."""
        # the default fits a long backtest; a figure given is kept, or refused
        fit = samples is None
        asked = DEFAULT_SAMPLES if samples is None else samples
        params = SignificanceParams(seed, asked, level, block_length)
        backtest_id = canonical_id(backtest_id)
        viewer, primary = owner_scope(request.user), request.app.state.engine
        engine = await sync_to_thread(read_engine, request)
        inputs = await sync_to_thread(report_inputs, engine, backtest_id, viewer, params, fit)
        if holds(request, tag := etag("significance", backtest_id, inputs)):
            return not_modified(tag)  # type: ignore[return-value]
        report = await run_while_awaited(
            request,
            lambda stop: report_for(
                engine, backtest_id, viewer, params, fit=fit, stop=stop, store=primary
            ),
            request.app.state.settings.significance_seconds,
            ReportAbandoned,
        )
        return Response(report, headers=validators(tag))

    @get(
        "/{backtest_id:str}/history",
        operation_id="getBacktestHistory",
        guards=[READERS],
        sync_to_thread=True,
    )
    def history(
        self, request: Request[User, Any, State], backtest_id: BacktestId
    ) -> Response[StreamHistory]:
        """The backtest's events in stream order, deletions included (owner or auditor)."""
        backtest_id, viewer = canonical_id(backtest_id), owner_scope(request.user)
        with read_connection(read_engine(request)) as conn:
            owner = queries.owner_of(conn, backtest_id)  # before reading a stream
            if owner is None or viewer not in (None, owner):
                raise BacktestNotFound(backtest_id)
            tag = etag("history", backtest_id, stream_version(conn, backtest_id))
            if holds(request, tag):
                return not_modified(tag)  # type: ignore[return-value]
            stream = load_stream(conn, backtest_id)
        history = StreamHistory(backtest_id, [EventOut.of(e) for e in stream])
        return Response(history, headers=validators(tag))
