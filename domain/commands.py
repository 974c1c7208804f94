"""Commands: what a user asks the ledger to do to one backtest's stream."""

from __future__ import annotations

from dataclasses import dataclass

from domain.results import BacktestSubmission


@dataclass(frozen=True)
class RecordBacktest:
    backtest_id: str
    owner_id: str
    submission: BacktestSubmission


@dataclass(frozen=True)
class DeleteBacktest:
    backtest_id: str
    actor_id: str


@dataclass(frozen=True)
class ExcludeFromTrials:
    """Say a backtest was a mistake or a test: not a trial of the significance reports."""

    backtest_id: str
    actor_id: str
    reason: str


Command = RecordBacktest | DeleteBacktest | ExcludeFromTrials
