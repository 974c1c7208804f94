"""The single map from errors to RFC 9457 problem details. No response ever carries a
stack trace or SQL text."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Template

from api.cancellation import OutOfTime
from api.handlers import NotPermitted
from api.schemas import FieldProblem, Problem
from domain.errors import AlreadyExcluded, BacktestNotFound, InvalidBacktest, MalformedBody
from domain.events import UnreadableEvent
from domain.search import BadExpression
from infrastructure.database import is_lock_wait
from infrastructure.event_store import ConcurrencyConflict, UnknownPosition
from infrastructure.idempotency import IdempotencyKeyReused
from infrastructure.replicas import BadToken
from projections.analyses import AnalysisFinished, AnalysisNotFound
from projections.cursors import BadCursor
from projections.documents import MissingDocument
from projections.experiments import ExperimentNotFound, TooManyColumns
from projections.queries import BadAsOf
from projections.significance import ReportAbandoned, TooManyDraws

log = logging.getLogger("backtest_ledger")
PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid backtest",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

DOMAIN_STATUS: dict[type[Exception], int] = {
    BacktestNotFound: 404,
    ExperimentNotFound: 404,
    AnalysisNotFound: 404,
    AnalysisFinished: 409,
    NotPermitted: 403,
    ConcurrencyConflict: 409,
    IdempotencyKeyReused: 409,
    AlreadyExcluded: 409,
    BadCursor: 400,
    BadAsOf: 400,
    TooManyDraws: 400,
    TooManyColumns: 400,
    UnknownPosition: 400,
    BadToken: 400,  # a Ledger-Consistency this service did not give
    MissingDocument: 503,  # the read models need `projections rebuild`
    UnreadableEvent: 500,  # the log holds an event this version cannot read: named
    ReportAbandoned: 503,  # its client has gone: nobody reads the answer
}


def _wants_page(request: Request[Any, Any, Any] | None) -> bool:
    if request is None or request.url.path.startswith(("/api/", "/schema", "/health")):
        return False
    return "text/html" in request.headers.get("accept", "")


def problem(
    status: int,
    detail: str,
    *,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    request: Request[Any, Any, Any] | None = None,
    token: str | None = None,
    offset: int | None = None,
) -> Response[Any]:
    title = TITLES.get(status, "Error")
    if _wants_page(request):
        context = {"title": title, "detail": detail, "user": None}
        return Template("error.html.j2", context=context, status_code=status, headers=headers)
    slug = title.lower().replace(" ", "-")
    return Response(
        Problem(
            f"urn:backtest-ledger:problem:{slug}", title, status, detail, errors, token, offset
        ),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _invalid(request: Request[Any, Any, Any], exc: InvalidBacktest) -> Response[Any]:
    errors = [FieldProblem(e.pointer, e.reason) for e in exc.errors]
    status = 400 if isinstance(exc, MalformedBody) else 422
    return problem(status, str(exc), errors=errors, request=request)


def _bad_expression(request: Request[Any, Any, Any], exc: BadExpression) -> Response[Any]:
    return problem(400, str(exc), request=request, token=exc.token, offset=exc.offset)


def _domain(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status = next(s for kind, s in DOMAIN_STATUS.items() if isinstance(exc, kind))
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc)
    return problem(status, str(exc), request=request)


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = [
        FieldProblem(f"/{e.get('key', '')}", str(e.get("message", "")))
        for e in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(e, dict)
    ]
    return problem(400, exc.detail or "invalid request", errors=errors or None, request=request)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="backtest-ledger"')
    if exc.status_code == 429:
        headers.setdefault("Retry-After", headers.get("RateLimit-Reset", "60"))
    # a 503 says why the service is busy; other 5xx details are not for clients
    shown = exc.status_code < 500 or exc.status_code == 503
    detail = exc.detail if shown else TITLES.get(exc.status_code, "error")
    return problem(exc.status_code, detail, headers=headers, request=request)


def _out_of_time(request: Request[Any, Any, Any], exc: OutOfTime) -> Response[Any]:
    detail = f"{exc}: ask for less work (fewer samples), or retry when the service is quieter"
    return problem(503, detail, headers={"Retry-After": "30"}, request=request)


def _database(_request: Request[Any, Any, Any], exc: sa.exc.DBAPIError) -> Response[Problem]:
    if is_lock_wait(exc):
        log.info("database busy: %s", exc.orig)
        return problem(
            503,
            "the database is busy: another write held the lock this one waited for; retry shortly",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        exc.connection_invalidated
    ):
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return problem(
            503, "the database is unavailable; retry shortly", headers={"Retry-After": "5"}
        )
    return _unexpected(_request, exc)


def _unexpected(_request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.error("unexpected error", exc_info=exc)
    return problem(500, "an unexpected error occurred; it has been logged")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    InvalidBacktest: _invalid,
    BadExpression: _bad_expression,
    OutOfTime: _out_of_time,
    **dict.fromkeys(DOMAIN_STATUS, _domain),
    ValidationException: _validation,
    HTTPException: _http,
    sa.exc.DBAPIError: _database,
    Exception: _unexpected,
}
