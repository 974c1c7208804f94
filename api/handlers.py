"""Command handlers shared by HTTP and the CLI: load the stream, decide, append and
project, all in one transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import sqlalchemy as sa

from domain.commands import Command, DeleteBacktest, ExcludeFromTrials, RecordBacktest
from domain.decider import decide, fold
from domain.errors import BacktestNotFound, DomainError
from domain.events import EventMetadata
from domain.ids import canonical_id
from domain.results import BacktestSubmission
from infrastructure import idempotency
from infrastructure.database import write_transaction
from infrastructure.event_store import ConcurrencyConflict, StoredEvent, append, load_stream
from infrastructure.users import Role, User
from projections import queries
from projections.projector import project

# How many times a command on an existing stream is decided before a conflict is
# answered 409: each retry follows another writer's commit on the same stream.
DECISIONS_PER_COMMAND = 5


class NotPermitted(DomainError):
    """The actor's role may not issue this command."""


@dataclass(frozen=True)
class RequestContext:
    """Where a command came from, for the event metadata and idempotency."""

    request_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    idempotency_key: str | None = None
    body_hash: str | None = None


class Recorded(msgspec.Struct, frozen=True):
    """The answer to a recorded backtest."""

    backtest_id: str
    position: int
    created_at: dt.datetime


@dataclass(frozen=True)
class Decided:
    """The position of a command's event; ``replayed``: a retry's, of the first one."""

    position: int
    replayed: bool


@dataclass(frozen=True)
class RecordOutcome:
    recorded: Recorded
    replayed: bool


def _decide_and_append(
    conn: sa.Connection, stream_id: str, command: Command, metadata: EventMetadata
) -> list[StoredEvent]:
    history = load_stream(conn, stream_id)
    state = fold(stored.event() for stored in history)
    new_events = decide(command, state)
    previous = history[-1].hash if history else None
    return append(conn, stream_id, state.version, new_events, metadata, project, previous)


def _metadata(
    actor: User, context: RequestContext, sanitized_fields: list[str] | None = None
) -> EventMetadata:
    request_id = context.request_id or str(uuid.uuid4())
    return EventMetadata(
        actor_id=actor.user_id,
        request_id=request_id,
        correlation_id=context.correlation_id or request_id,
        causation_id=context.causation_id or request_id,
        idempotency_key=context.idempotency_key,
        sanitized_fields=sanitized_fields or [],
    )


def record_backtest(
    engine: sa.Engine,
    actor: User,
    submission: BacktestSubmission,
    sanitized_fields: list[str],
    context: RequestContext | None = None,
) -> RecordOutcome:
    """Record a validated submission as a new backtest owned by the actor; with an
    idempotency key seen before (same body), return the first answer instead."""
    if actor.role is not Role.USER:
        raise NotPermitted(f"a {actor.role} cannot record backtests")
    context = context or RequestContext()
    key = context.idempotency_key
    backtest_id = str(uuid.uuid4())
    command = RecordBacktest(backtest_id, actor.user_id, submission)
    with write_transaction(engine) as conn:
        if key is not None:
            prior = idempotency.claim(conn, actor.user_id, key, context.body_hash or "")
            if prior is not None:
                return RecordOutcome(msgspec.json.decode(prior.response, type=Recorded), True)
        metadata = _metadata(actor, context, sanitized_fields)
        [stored] = _decide_and_append(conn, backtest_id, command, metadata)
        recorded = Recorded(backtest_id, stored.position, stored.recorded_at)
        if key is not None:
            idempotency.remember(conn, actor.user_id, key, msgspec.json.encode(recorded))
    return RecordOutcome(recorded, False)


def delete_backtest(
    engine: sa.Engine, actor: User, backtest_id: str, context: RequestContext | None = None
) -> None:
    """Withdraw one of the actor's backtests from the live read models."""
    _owner_command(engine, actor, backtest_id, "delete backtests", context,
                   lambda checked: DeleteBacktest(checked, actor.user_id))  # fmt: skip


def exclude_from_trials(
    engine: sa.Engine,
    actor: User,
    backtest_id: str,
    reason: str,
    context: RequestContext | None = None,
) -> Decided:
    """Mark one of the actor's backtests as a mistake, not a trial; its event's position
    (or, with an idempotency key seen before for the same request, the first one's)."""
    return _owner_command(
        engine, actor, backtest_id, "exclude backtests from trials", context,
        lambda checked: ExcludeFromTrials(checked, actor.user_id, reason),
    )  # fmt: skip


def _owner_command(
    engine: sa.Engine,
    actor: User,
    backtest_id: str,
    what: str,
    context: RequestContext | None,
    command: Callable[[str], Command],
) -> Decided:
    """Issue a command only the owner of a live backtest may; the appended position.

    Whose it is comes from the read model first: someone else's backtest is refused
    without its stream being read (a stream can be a million rows). A command that
    lost a race to another one on the same stream is decided again on the new
    version, a bounded number of times: it succeeds if it is still valid there."""
    if actor.role is not Role.USER:
        raise NotPermitted(f"a {actor.role} cannot {what}")
    backtest_id = canonical_id(backtest_id)
    context = context or RequestContext()
    key, metadata = context.idempotency_key, _metadata(actor, context)
    for attempt in range(1, DECISIONS_PER_COMMAND + 1):
        try:
            with write_transaction(engine) as conn:
                if key is not None:
                    prior = idempotency.claim(conn, actor.user_id, key, context.body_hash or "")
                    if prior is not None:
                        return Decided(msgspec.json.decode(prior.response, type=int), True)
                if queries.owner_of(conn, backtest_id) != actor.user_id:
                    raise BacktestNotFound(backtest_id)
                [stored] = _decide_and_append(conn, backtest_id, command(backtest_id), metadata)
                if key is not None:
                    idempotency.remember(conn, actor.user_id, key, b"%d" % stored.position)
            return Decided(stored.position, False)
        except ConcurrencyConflict:
            if attempt == DECISIONS_PER_COMMAND:
                raise
    raise AssertionError("unreachable")
