"""What can go wrong when talking to a ledger, as exceptions a user can act on.

Each answers one kind of problem+json response (or no response at all); every one is
a ``LedgerError`` carrying the HTTP status and the service's own ``detail``.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Any refusal or failure of the ledger service."""

    def __init__(self, detail: str, status: int | None = None, problem: Any = None) -> None:
        super().__init__(detail if status is None else f"{status}: {detail}")
        self.detail = detail
        self.status = status
        self.problem = problem


class InvalidBacktest(LedgerError):
    """The service refused a body (422, or 400 when it was not JSON at all); ``errors``
    lists ``(JSON pointer, message)`` for every offending field."""

    def __init__(self, detail: str, status: int, problem: Any = None) -> None:
        super().__init__(detail, status, problem)
        found = (problem or {}).get("errors") or []
        self.errors: list[tuple[str, str]] = [(e["pointer"], e["detail"]) for e in found]

    def __str__(self) -> str:
        fields = "; ".join(f"{pointer or '/'}: {message}" for pointer, message in self.errors)
        return f"{self.status}: {self.detail}" + (f" ({fields})" if fields else "")


class InvalidRequest(LedgerError):
    """A query the service cannot take (400): a bad ``where`` names its token and offset."""


class Unauthorized(LedgerError):
    """No API key, or one the service does not know (401)."""


class NotAllowed(LedgerError):
    """The key is known but may not do this (403), or has sent too many wrong ones."""


class NotFound(LedgerError):
    """No such backtest or experiment visible to this key (404)."""


class Conflict(LedgerError):
    """The request clashes with what was recorded (409: an idempotency key reused for
    a different body)."""


class ServiceUnavailable(LedgerError):
    """The service could not be reached, or kept answering 429/503, after every retry."""


class RecordFailed(LedgerError):
    """One item of ``record_many`` was refused: ``index`` is its position in the input,
    ``cause`` the refusal."""

    def __init__(self, index: int, cause: LedgerError) -> None:
        super().__init__(f"item {index}: {cause}", cause.status, cause.problem)
        self.index = index
        self.cause = cause


_BY_STATUS: dict[int, type[LedgerError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: NotAllowed,
    404: NotFound,
    409: Conflict,
    413: InvalidBacktest,
    415: InvalidBacktest,
    422: InvalidBacktest,
}


def error_for(status: int, problem: Any, text: str) -> LedgerError:
    """The exception for a refused request's status and problem+json body."""
    detail = problem.get("detail", text) if isinstance(problem, dict) else text
    if status == 400 and isinstance(problem, dict) and problem.get("errors"):
        return InvalidBacktest(detail, status, problem)  # a body that was not JSON
    kind = _BY_STATUS.get(status)
    if kind is InvalidBacktest:
        return InvalidBacktest(detail, status, problem if isinstance(problem, dict) else None)
    if kind is None:
        kind = ServiceUnavailable if status >= 500 else LedgerError
    return kind(detail, status, problem)
