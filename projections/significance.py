"""The significance report of one backtest: bootstrap intervals (``arch``), PSR, DSR
over every variant the user tried, and walk-forward consistency.

Read from the read models: the backtest's effective daily returns (nulls skipped)
and the per-period Sharpe of every trial — deleted ones included, because a deletion
does not undo a trial; those the owner excluded as mistakes (a test post, a wrong
file: ``BacktestExcludedFromTrials``) left out, and counted apart. The trials of a
backtest recorded in an experiment are the experiment's backtests; of one without,
every backtest the same user recorded with the same symbol and strategy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from domain.series import covered_rows
from domain.significance import (
    Moments,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    moments,
    probabilistic_sharpe_ratio,
    walk_forward,
)
from infrastructure.database import read_connection, write_transaction
from infrastructure.tables import backtest_details, backtests, significance_reports
from projections.queries import find_summary
from projections.series_reads import daily_columns, row_count
from projections.views import BacktestSummary

Figure = float | None
# Asked between resamples: true once the work should end.
Stop = Callable[[], bool] | None
TrialsRule = Literal["experiment", "symbol_strategy"]


def _doc(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class MeanReturn(msgspec.Struct, frozen=True):
    """The mean daily return, its stationary-bootstrap percentile interval, and the
    bootstrap p-value of H0: mean ≤ 0 (Politis & Romano, 1994)."""

    estimate: Annotated[Figure, _doc("mean of the daily returns")]
    ci_low: Annotated[Figure, _doc("lower end of the percentile interval at `level`")]
    ci_high: Annotated[Figure, _doc("upper end of the percentile interval at `level`")]
    p_value: Annotated[
        Figure,
        _doc("share of recentred bootstrap means at least the estimate: (k+1)/(samples+1)"),
    ]


class SharpeInterval(msgspec.Struct, frozen=True):
    """The annualised Sharpe ratio (risk-free 0) and its stationary-bootstrap interval."""

    estimate: Annotated[Figure, _doc("mean/std(ddof=1)·√periods_per_year")]
    ci_low: Figure
    ci_high: Figure


class Deflated(msgspec.Struct, frozen=True):
    """The Deflated Sharpe Ratio (Bailey & López de Prado, 2014): PSR against the
    Sharpe the best of `trials` unskilled variants would show."""

    value: Annotated[Figure, _doc("PSR(SR0); null with fewer than two trials")]
    trials: Annotated[
        int,
        _doc(
            "the backtests of this one's experiment, or without one, of this user with "
            "this symbol and strategy; deleted ones included, those the owner excluded "
            "as mistakes not"
        ),
    ]
    sr0: Annotated[Figure, _doc("expected maximum per-period Sharpe of the trials")]
    trials_rule: Annotated[TrialsRule, _doc("which backtests counted as trials")] = (
        "symbol_strategy"
    )
    recorded: Annotated[int, _doc("backtests the rule finds: the trials and the excluded")] = 0
    excluded: Annotated[int, _doc("of those, excluded from the trials as mistakes")] = 0

    @property
    def count_text(self) -> str:
        """ "14 recorded, 2 excluded as mistakes", or "14 recorded"."""
        text = f"{self.recorded} recorded"
        return f"{text}, {self.excluded} excluded as mistakes" if self.excluded else text


class WalkForwardOut(msgspec.Struct, frozen=True):
    """Rolling windows: `in_sample` returns then `out_of_sample`, moved by `step`."""

    windows: int
    positive_share: Annotated[Figure, _doc("share of out-of-sample windows that made money")]
    mean_oos_sharpe: Annotated[Figure, _doc("mean annualised out-of-sample Sharpe")]


class SignificanceReport(msgspec.Struct, frozen=True):
    """Is it luck? Uncertainty of the headline figures, and how many variants were
    tried to find them."""

    backtest_id: str
    observations: Annotated[int, _doc("daily returns used (nulls skipped)")]
    periods_per_year: int
    seed: Annotated[int, _doc("bootstrap seed: the same seed gives the same numbers")]
    samples: Annotated[int, _doc("bootstrap resamples")]
    level: Annotated[float, _doc("confidence level of the intervals")]
    block_length: Annotated[
        Figure, _doc("expected block length (Politis & White 2004 optimal unless given)")
    ]
    mean_return: MeanReturn
    sharpe: SharpeInterval
    psr: Annotated[
        Figure,
        _doc("Probabilistic Sharpe Ratio vs SR*=0 (Bailey & López de Prado, 2012)"),
    ]
    dsr: Deflated
    walk_forward: WalkForwardOut
    notes: Annotated[list[str], _doc("why a figure is null, where it is")] = msgspec.field(
        default_factory=list
    )


# arch's optimal_block_length (Politis & White) needs this many returns; with fewer,
# the bootstrap needs a block_length given.
AUTOMATIC_BLOCK_MINIMUM = 8


# Resamples when none are asked for: as many of these as fit under MAX_DRAWS.
DEFAULT_SAMPLES = 10_000


@dataclass(frozen=True)
class SignificanceParams:
    seed: int = 0
    samples: int = DEFAULT_SAMPLES
    level: float = 0.95
    block_length: float | None = None
    in_sample: int | None = None  # default: one year of periods
    out_of_sample: int | None = None  # default: a quarter of a year
    step: int | None = None  # default: a quarter of a year


def _returns(conn: sa.Connection, backtest_id: str) -> np.ndarray:
    """The backtest's known daily returns, in order (given, or derived from equity), of
    the rows its metrics cover (``covered_rows``)."""
    parts = list(daily_columns(conn, backtest_id))
    returns = np.concatenate([np.array(p["return"], dtype=np.float64) for p in parts])
    equities = np.concatenate([np.array(p["equity"], dtype=np.float64) for p in parts])
    returns = returns[: covered_rows(equities)]
    known_returns: np.ndarray = returns[~np.isnan(returns)]
    return known_returns


class Trials(NamedTuple):
    rule: TrialsRule
    counted: int
    sharpes: list[float]
    excluded: int


def trials(conn: sa.Connection, owner_id: str, summary: BacktestSummary) -> Trials:
    """Which rule counts the trials of a backtest, how many there are (deleted ones
    included, those the owner excluded as mistakes not), the per-period Sharpe of
    those that have one, and how many were excluded: the owner's backtests of the same
    experiment, or without one, of the same symbol and strategy."""
    b = backtests.c
    rule: TrialsRule
    if summary.experiment is not None:
        rule, same = "experiment", [b.experiment == summary.experiment]
    else:
        rule, same = "symbol_strategy", [b.symbol == summary.symbol,
                                         b.strategy == summary.strategy]  # fmt: skip
    query = (
        sa.select(b.sharpe, backtest_details.c.periods_per_year, b.excluded_reason)
        .join(backtest_details, backtest_details.c.backtest_id == b.backtest_id)
        .where(b.owner_id == owner_id, *same)
    )
    rows = conn.execute(query).all()
    counted = [(s, p) for s, p, reason in rows if reason is None]
    sharpes = [s / math.sqrt(p) for s, p in counted if s is not None]
    return Trials(rule, len(counted), sharpes, len(rows) - len(counted))


@dataclass(frozen=True)
class _Subject:
    """What a report is about: a live backtest the viewer may read, and its trials."""

    backtest_id: str
    periods: int
    rule: TrialsRule
    trials: int
    sharpes: list[float]
    excluded: int = 0


def _subject(conn: sa.Connection, backtest_id: str, viewer: str | None) -> _Subject:
    summary = find_summary(conn, backtest_id, viewer)
    owner, periods = conn.execute(
        sa.select(backtests.c.owner_id, backtest_details.c.periods_per_year)
        .join(backtest_details, backtest_details.c.backtest_id == backtests.c.backtest_id)
        .where(backtests.c.backtest_id == backtest_id)
    ).one()
    rule, count, sharpes, excluded = trials(conn, owner, summary)
    return _Subject(backtest_id, periods, rule, count, sharpes, excluded)


def _compute(
    conn: sa.Connection, subject: _Subject, params: SignificanceParams, fit: bool, stop: Stop
) -> SignificanceReport:
    rows = row_count(conn, subject.backtest_id, "daily")  # refused before the series is read
    most = most_samples(rows)
    if params.samples > most:
        if not fit:
            raise TooManyDraws(rows, params.samples)
        params = dataclasses.replace(params, samples=most)
    returns = _returns(conn, subject.backtest_id)
    return build_report(
        subject.backtest_id,
        returns,
        subject.periods,
        subject.sharpes,
        subject.trials,
        params,
        subject.rule,
        stop,
        subject.excluded,
    )


def significance(
    conn: sa.Connection,
    backtest_id: str,
    viewer: str | None,
    params: SignificanceParams,
    *,
    fit: bool = False,
    stop: Stop = None,
) -> SignificanceReport:
    """The report for one live backtest the viewer may read (``None``: any owner's),
    computed now; ``TooManyDraws`` past ``MAX_DRAWS``, or with ``fit`` (the pages) as
    many samples as fit under it; ``ReportAbandoned`` once ``stop()`` is true."""
    return _compute(conn, _subject(conn, backtest_id, viewer), params, fit, stop)


def deflated(conn: sa.Connection, backtest_id: str, viewer: str | None) -> Deflated:
    """The Deflated Sharpe Ratio alone, as the report gives it: no bootstrap."""
    subject = _subject(conn, backtest_id, viewer)
    m = moments(_returns(conn, backtest_id))
    return _deflated(m, subject.sharpes, subject.trials, subject.rule, subject.excluded)


def _deflated(
    m: Moments | None,
    trial_sharpes: list[float],
    trials: int,
    rule: TrialsRule,
    excluded: int = 0,
) -> Deflated:
    return Deflated(
        value=deflated_sharpe_ratio(m, trial_sharpes, trials) if m else None,
        trials=trials,
        sr0=expected_max_sharpe(trial_sharpes, trials),
        trials_rule=rule,
        recorded=trials + excluded,
        excluded=excluded,
    )


def report_for(
    engine: sa.Engine,
    backtest_id: str,
    viewer: str | None,
    params: SignificanceParams,
    *,
    fit: bool = False,
    stop: Stop = None,
    store: sa.Engine | None = None,
) -> SignificanceReport:
    """The report as ``significance`` gives it, computed at most once for the same
    inputs: a later request with the same parameters and the same trials reads the
    report stored by the first (an abandoned computation stores nothing). Read from
    ``engine``, stored through ``store`` (the primary, when ``engine`` is a standby)."""
    with read_connection(engine) as conn:
        subject = _subject(conn, backtest_id, viewer)
        inputs = inputs_hash(subject, params, fit)
        stored = _stored(conn, backtest_id, inputs)
        if stored is not None:
            return stored
        report = _compute(conn, subject, params, fit, stop)
    try:
        with write_transaction(store or engine) as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            conn.execute(
                insert(significance_reports)
                .values(
                    backtest_id=backtest_id,
                    inputs_hash=inputs,
                    report=msgspec.json.encode(report),
                    computed_at=dt.datetime.now(dt.UTC),
                )
                .on_conflict_do_nothing()
            )
    except sa.exc.OperationalError:
        if store is None or store is engine:
            raise
        # read from a standby while the primary is down: the report is still the
        # answer; it is computed again next time instead of read back
    return report


def report_inputs(
    engine: sa.Engine,
    backtest_id: str,
    viewer: str | None,
    params: SignificanceParams,
    fit: bool = False,
) -> str:
    """The digest of everything the report depends on (``inputs_hash``), read without
    the series: a conditional GET's tag (``BacktestNotFound`` when not readable)."""
    with read_connection(engine) as conn:
        return inputs_hash(_subject(conn, backtest_id, viewer), params, fit)


def stored_report(
    engine: sa.Engine,
    backtest_id: str,
    viewer: str | None,
    params: SignificanceParams,
    *,
    fit: bool = False,
) -> SignificanceReport | None:
    """The report stored for these inputs, if one was computed (``BacktestNotFound``
    for a backtest the viewer may not read)."""
    with read_connection(engine) as conn:
        return _stored(
            conn, backtest_id, inputs_hash(_subject(conn, backtest_id, viewer), params, fit)
        )


def _stored(conn: sa.Connection, backtest_id: str, inputs: str) -> SignificanceReport | None:
    stored = conn.execute(
        sa.select(significance_reports.c.report).where(
            significance_reports.c.backtest_id == backtest_id,
            significance_reports.c.inputs_hash == inputs,
        )
    ).scalar()
    return None if stored is None else msgspec.json.decode(stored, type=SignificanceReport)


# Moves whenever the computation changes, so reports stored before are not served.
REPORT_VERSION = 2


def inputs_hash(subject: _Subject, params: SignificanceParams, fit: bool) -> str:
    """A digest of everything a report depends on beyond the backtest's own returns,
    which never change: the parameters, whether the samples were fitted, and the
    trials (their count and Sharpe ratios: excluding one and adding another changes
    it, though the count stays)."""
    inputs = [REPORT_VERSION, dataclasses.astuple(params), fit, subject.rule, subject.trials,
              subject.excluded, sorted(subject.sharpes)]  # fmt: skip
    return hashlib.sha256(msgspec.json.encode(inputs)).hexdigest()


# A bootstrap draws observations × samples returns: 10 years of days at the default
# 10,000 samples is 2.5e7 (about a second here). Past this cap one request would hold a
# worker for minutes (1,000,000 days at 100,000 samples: about 55 minutes).
MAX_DRAWS = 50_000_000
MIN_SAMPLES = 100  # fewer resamples give no usable interval


def most_samples(rows: int) -> int:
    """The most bootstrap samples a report of a backtest of ``rows`` days may take:
    ``MAX_DRAWS`` days drawn in all, and ``MIN_SAMPLES`` whatever its length, so that
    every backtest has a report it can ask for (a million days at 100 samples is a
    few seconds of work)."""
    return max(MIN_SAMPLES, MAX_DRAWS // max(rows, 1))


class TooManyDraws(ValueError):
    """More samples than ``most_samples`` allows: the caller should ask for fewer."""

    def __init__(self, rows: int, samples: int) -> None:
        super().__init__(
            f"{rows:,} days x {samples:,} samples is more than the {MAX_DRAWS:,} bootstrap "
            f"draws one report may take: ask for at most {most_samples(rows):,} samples "
            "for this backtest"
        )


def build_report(
    backtest_id: str,
    returns: np.ndarray,
    periods: int,
    trial_sharpes: list[float],
    trials: int,
    params: SignificanceParams,
    trials_rule: TrialsRule = "symbol_strategy",
    stop: Stop = None,
    excluded: int = 0,
) -> SignificanceReport:
    m = moments(returns)
    block, mean_return, sharpe = bootstrap(returns, periods, params, stop)
    quarter = max(1, periods // 4)
    wf = walk_forward(
        returns,
        periods,
        params.in_sample or periods,
        params.out_of_sample or quarter,
        params.step or quarter,
    )
    return SignificanceReport(
        backtest_id=backtest_id,
        observations=len(returns),
        periods_per_year=periods,
        seed=params.seed,
        samples=params.samples,
        level=params.level,
        block_length=block,
        mean_return=mean_return,
        sharpe=sharpe,
        psr=probabilistic_sharpe_ratio(m) if m else None,
        dsr=_deflated(m, trial_sharpes, trials, trials_rule, excluded),
        walk_forward=WalkForwardOut(wf.windows, wf.positive_share, wf.mean_oos_sharpe),
        notes=[note] if (note := _no_bootstrap(returns, params)) else [],
    )


def _no_bootstrap(returns: np.ndarray, params: SignificanceParams) -> str | None:
    """Why the bootstrap cannot run on these returns, or None when it can."""
    if len(returns) < 3:
        return f"the bootstrap needs at least 3 returns ({len(returns)} here)"
    if params.block_length is None and len(returns) < AUTOMATIC_BLOCK_MINIMUM:
        return (
            f"choosing the block length needs at least {AUTOMATIC_BLOCK_MINIMUM} returns "
            f"({len(returns)} here): give block_length to bootstrap fewer"
        )
    if float(np.std(returns)) == 0:
        return "the returns do not vary: there is nothing to resample"
    return None


def _resample(sampler: Any, samples: int, stop: Stop) -> np.ndarray:
    # What arch's ``apply`` does (the same resamples, in order, from the same seed),
    # with a question before each resample so a request nobody waits for can end.
    draws = np.empty((samples, 2))
    for count, (data, _) in enumerate(sampler.bootstrap(samples)):
        if stop is not None and stop():  # costs ~1 µs, a resample at least 10
            raise ReportAbandoned(count, samples)
        draws[count] = _mean_and_sharpe(data[0])
    return draws


class ReportAbandoned(Exception):
    """The computation stopped because ``stop()`` said so (the client went away, or
    the time budget ran out)."""

    def __init__(self, done: int, samples: int) -> None:
        super().__init__(f"stopped after {done:,} of {samples:,} resamples")
        self.done = done


def _mean_and_sharpe(x: np.ndarray) -> np.ndarray:
    std = x.std(ddof=1)
    return np.array([x.mean(), x.mean() / std if std > 0 else np.nan])


def bootstrap(
    returns: np.ndarray, periods: int, params: SignificanceParams, stop: Stop = None
) -> tuple[float | None, MeanReturn, SharpeInterval]:
    """Stationary-bootstrap percentile intervals of the mean and the annualised Sharpe,
    and the p-value of H0: mean ≤ 0, reproducible from ``params.seed``; asks ``stop``
    every few resamples and raises ``ReportAbandoned`` once it answers true."""
    # arch pulls in scipy and statsmodels (about a second): only when needed, so the
    # CLI's other commands start quickly.
    from arch.bootstrap import StationaryBootstrap, optimal_block_length

    if _no_bootstrap(returns, params) is not None:
        return None, MeanReturn(None, None, None, None), SharpeInterval(None, None, None)
    block = params.block_length
    if block is None:
        # short series give a lag with no variance: arch divides by zero in numpy and
        # skips that lag, which is its documented answer, not a fault of the report
        with np.errstate(divide="ignore", invalid="ignore"):
            block = float(optimal_block_length(returns)["stationary"].iloc[0])
    block = max(1.0, block)
    sampler = StationaryBootstrap(block, returns, seed=params.seed)  # type: ignore[arg-type]
    draws = _resample(sampler, params.samples, stop)
    tail = (1 - params.level) / 2 * 100
    mean_low, mean_high = np.nanpercentile(draws[:, 0], [tail, 100 - tail])
    sharpe_low, sharpe_high = np.nanpercentile(draws[:, 1], [tail, 100 - tail])
    mean = float(returns.mean())
    # Recentre the bootstrap means on 0 (H0) and count those at least as large.
    extreme = int(np.sum(draws[:, 0] - mean >= mean))
    annual = math.sqrt(periods)
    estimate = _mean_and_sharpe(returns)[1] * annual
    return (
        block,
        MeanReturn(mean, float(mean_low), float(mean_high), (extreme + 1) / (params.samples + 1)),
        SharpeInterval(float(estimate), float(sharpe_low * annual), float(sharpe_high * annual)),
    )
