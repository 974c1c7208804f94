"""The backtest decider: ``decide`` turns a command and a stream's state into events,
``evolve`` folds events into that state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import singledispatch

from domain.commands import Command, ExcludeFromTrials, RecordBacktest
from domain.errors import AlreadyExcluded, BacktestAlreadyExists, BacktestNotFound
from domain.events import BacktestDeleted, BacktestExcludedFromTrials, BacktestRecorded, Event


@dataclass(frozen=True)
class BacktestState:
    """What the decider needs to know about one backtest stream."""

    version: int = 0
    owner_id: str | None = None
    deleted: bool = False
    excluded: bool = False

    @property
    def exists(self) -> bool:
        return self.version > 0


@singledispatch
def evolve(event: Event, state: BacktestState) -> BacktestState:
    raise TypeError(f"unknown event {type(event).__name__}")


@evolve.register
def _(event: BacktestRecorded, state: BacktestState) -> BacktestState:
    return replace(state, version=state.version + 1, owner_id=event.owner_id)


@evolve.register
def _(event: BacktestDeleted, state: BacktestState) -> BacktestState:
    return replace(state, version=state.version + 1, deleted=True)


@evolve.register
def _(event: BacktestExcludedFromTrials, state: BacktestState) -> BacktestState:
    return replace(state, version=state.version + 1, excluded=True)


def fold(events: Iterable[Event]) -> BacktestState:
    """The state after a stream's events, in order."""
    state = BacktestState()
    for event in events:
        state = evolve(event, state)
    return state


def decide(command: Command, state: BacktestState) -> list[Event]:
    """The events a command produces against a stream, or a domain error."""
    if isinstance(command, RecordBacktest):
        if state.exists:
            raise BacktestAlreadyExists(command.backtest_id)
        return [BacktestRecorded(command.backtest_id, command.owner_id, command.submission)]
    if not state.exists or state.deleted or state.owner_id != command.actor_id:
        # Another user's backtest is indistinguishable from a missing one.
        raise BacktestNotFound(command.backtest_id)
    if isinstance(command, ExcludeFromTrials):
        if state.excluded:
            raise AlreadyExcluded(command.backtest_id)
        return [BacktestExcludedFromTrials(command.backtest_id, command.reason)]
    return [BacktestDeleted(command.backtest_id)]
