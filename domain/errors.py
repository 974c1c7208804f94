"""Domain errors, named as a user of the ledger would name what went wrong."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class FieldError(Exception):
    """One offending field, named by its RFC 6901 JSON pointer."""

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__(f"{pointer or '/'}: {reason}")
        self.pointer = pointer
        self.reason = reason


class InvalidBacktest(DomainError):
    """The submitted backtest is malformed; nothing was recorded."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"invalid backtest at {first.pointer or '/'}: {first.reason}{more}")


class MalformedBody(InvalidBacktest):
    """The body is not JSON at all (bad syntax or encoding), as opposed to JSON of the
    wrong shape."""


class BacktestNotFound(DomainError):
    """No live backtest with this id is visible to the actor."""

    def __init__(self, backtest_id: str) -> None:
        super().__init__(f"backtest {backtest_id} not found")
        self.backtest_id = backtest_id


class BacktestAlreadyExists(DomainError):
    """A stream for this backtest id has already been started."""

    def __init__(self, backtest_id: str) -> None:
        super().__init__(f"backtest {backtest_id} already exists")
        self.backtest_id = backtest_id


class AlreadyExcluded(DomainError):
    """The backtest is already excluded from the trials."""

    def __init__(self, backtest_id: str) -> None:
        super().__init__(f"backtest {backtest_id} is already excluded from the trials")
        self.backtest_id = backtest_id
