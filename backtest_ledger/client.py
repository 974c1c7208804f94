"""``Ledger``: record backtests in a backtest-ledger service and read them back.

    ledger = Ledger()   # BACKTEST_LEDGER_URL, BACKTEST_LEDGER_API_KEY
    backtest_id = ledger.record_backtesting(stats, symbol="SPX", experiment="sma-grid")
    daily = ledger.daily(backtest_id)

Every call goes through one pooled, keep-alive HTTP client (gzip accepted) and the
retry rule of ``transport``; every record carries an ``Idempotency-Key``, so a retry
never records twice. Times without a timezone are taken as UTC.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import httpx
import msgspec
import pandas as pd

from backtest_ledger import adapters
from backtest_ledger.analysis import Analysis, analysis_of
from backtest_ledger.body import backtest_body
from backtest_ledger.errors import LedgerError, RecordFailed
from backtest_ledger.frames import csv_frame, parquet_frame, typed
from backtest_ledger.provenance import Gathered, collected, gathered
from backtest_ledger.revalidation import Revalidation
from backtest_ledger.transport import RetryPolicy, Transport

DEFAULT_URL = "http://127.0.0.1:8000"
API = "/api/v1"


class Ledger:
    """A client of one ledger service, for one API key."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        client: httpx.Client | None = None,
        kept_bytes: int = 64 << 20,
    ) -> None:
        """``url`` and ``api_key`` default to ``BACKTEST_LEDGER_URL`` (else
        http://127.0.0.1:8000) and ``BACKTEST_LEDGER_API_KEY``; ``client`` replaces the
        pooled client (its base URL and headers are then the caller's). Answers read
        are kept, up to ``kept_bytes``, and revalidated when read again (a 304 sends no
        body); 0 keeps none."""
        if api_key is not None and not api_key.strip():
            raise ValueError("api_key is empty: give a key, or None for BACKTEST_LEDGER_API_KEY")
        key = api_key or os.environ.get("BACKTEST_LEDGER_API_KEY")
        if client is None:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            client = httpx.Client(
                base_url=url or os.environ.get("BACKTEST_LEDGER_URL", DEFAULT_URL),
                headers=headers,
                timeout=timeout,
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            )
        elif key:
            client.headers["Authorization"] = f"Bearer {key}"
        self.transport = Transport(client, retry or RetryPolicy())
        self.kept = Revalidation(kept_bytes)

    def close(self) -> None:
        self.transport.client.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # recording

    def record_body(self, body: Mapping[str, Any], idempotency_key: str | None = None) -> str:
        """Record a ready POST body; the new backtest's id. The same ``idempotency_key``
        (a fresh UUID unless given) goes with every retry."""
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
        }
        content = msgspec.json.encode(body)
        response = self.transport.send("POST", f"{API}/backtests", content=content, headers=headers)
        return str(response.json()["backtest_id"])

    def record(
        self,
        *,
        symbol: str,
        strategy: str,
        equity: pd.Series | pd.DataFrame | None = None,
        returns: pd.Series | pd.DataFrame | None = None,
        trades: pd.DataFrame | None = None,
        idempotency_key: str | None = None,
        provenance: Mapping[str, Any] | bool | Gathered | None = None,
        data: pd.DataFrame | pd.Series | None = None,
        **fields: Any,
    ) -> str:
        """Record a backtest from plain pandas: an ``equity`` curve or ``returns`` (a
        Series, or a DataFrame of one column) on a DatetimeIndex of bars of any size, a
        ``trades`` DataFrame (``trade_columns=`` maps
        its column names), ``parameters``, ``benchmark`` (the benchmark's returns on the
        same bars: a bar it lacks is a ValueError naming it), and any other field of
        the POST body (``initial_capital``, ``periods_per_year``, ``experiment``...).

        The provenance is filled in by itself (``backtest_ledger.provenance``): the git
        commit and dirty flag of the repository holding the running script, python's
        and the packages' versions, and with ``data=`` (the prices the backtest ran on)
        their fingerprint. ``provenance=`` replaces any of its fields (``{"code":
        {"commit": ...}}``); ``provenance=False`` sends none."""
        sent = collected(provenance, fields.pop("found_provenance", None), data)
        body = backtest_body(symbol=symbol, strategy=strategy, equity=equity, returns=returns,
                             trades=trades, provenance=sent, **fields)  # fmt: skip
        return self.record_body(body, idempotency_key)

    def record_returns(
        self, returns: pd.Series, *, symbol: str, strategy: str, **fields: Any
    ) -> str:
        """Record a series of periodic returns (equity compounded from
        ``initial_capital``, default 1.0; NaN returns are null, not 0)."""
        return self.record(symbol=symbol, strategy=strategy, returns=returns, **fields)

    def record_backtesting(
        self, stats: pd.Series, *, symbol: str, backtest: Any = None, **fields: Any
    ) -> str:
        """Record the ``stats`` of a backtesting.py ``Backtest.run()``: its equity curve,
        trades (net of commission, fees its commission), strategy name and
        parameters; in the provenance, the sha256 of the strategy class's source and,
        given the ``Backtest`` (``backtest=``), the fingerprint of its data, and its
        Close held from the first bar the strategy could trade as the benchmark (its
        total return is backtesting.py's ``Buy & Hold Return``)."""
        found = adapters.backtesting_fields(stats, backtest)
        return self.record(**{**found, "symbol": symbol, **fields})

    def record_vectorbt(self, portfolio: Any, *, symbol: str, **fields: Any) -> str:
        """Record a vectorbt ``Portfolio`` of one column: its value, closed trades, its
        ``benchmark_returns()`` as the benchmark and, when given, ``strategy=`` and
        ``parameters=`` (the call's own arguments); in the provenance, the fingerprint
        of its ``close``."""
        return self.record(**{**adapters.vectorbt_fields(portfolio), "symbol": symbol, **fields})

    def record_backtrader(self, strategy: Any, *, symbol: str, **fields: Any) -> str:
        """Record a finished backtrader strategy (an item of ``cerebro.run()``, run with
        ``Cerebro(tradehistory=True)`` and the default observers): its broker value,
        closed trades, class name and ``params``, its first data feed's close as the
        benchmark; in the provenance, the sha256 of the
        strategy class's source and the fingerprint of its data feeds."""
        return self.record(**{**adapters.backtrader_fields(strategy), "symbol": symbol, **fields})

    def record_many(
        self, items: Iterable[Mapping[str, Any]], workers: int = 4, progress: bool = True
    ) -> list[str]:
        """Record each item (the keyword arguments of ``record``) on ``workers``
        threads; the ids in input order. The first refusal stops the rest (those not
        started are not sent) and raises ``RecordFailed`` with the item's index."""
        from tqdm import tqdm

        listed = list(items)
        refused = threading.Event()
        found = gathered()  # git read once for the whole sweep

        def one(item: Mapping[str, Any]) -> str:
            if refused.is_set():
                raise _NotSent
            shared = Gathered(found, item.get("provenance"))
            # one Idempotency-Key for all its attempts
            return self.record(**{**item, "provenance": shared})

        with (
            ThreadPoolExecutor(max_workers=workers) as pool,
            tqdm(total=len(listed), disable=not progress, unit="backtest") as bar,
        ):

            def finished(future: Future[str]) -> None:
                # run by the worker before it takes its next item, so that none is sent
                # after a refusal except those already in flight on other workers
                bar.update()
                if not future.cancelled() and future.exception() is not None:
                    refused.set()

            futures = [pool.submit(one, item) for item in listed]  # in input order
            for future in futures:
                future.add_done_callback(finished)
            wait(futures)
        for index, future in enumerate(futures):  # the first refusal, by input order
            cause = future.exception()
            if isinstance(cause, _NotSent) or cause is None:
                continue
            if not isinstance(cause, LedgerError):
                raise cause
            raise RecordFailed(index, cause) from cause
        return [future.result() for future in futures]

    # reading back

    def _get(self, path: str, **params: Any) -> httpx.Response:
        given = {name: value for name, value in params.items() if value is not None}
        key = self.kept.key(path, given)
        asked = self.kept.conditions(key)
        answer = self.kept.answer(key, self.transport.send("GET", path, params=given,
                                                           headers=asked))  # fmt: skip
        if answer.status_code == 304:  # what was kept is gone: ask for the whole answer
            answer = self.transport.send("GET", path, params=given)
        return answer

    def get(self, backtest_id: str) -> dict[str, Any]:
        """A backtest's detail: its fields, metrics, daily rows and trades."""
        return dict(self._get(f"{API}/backtests/{backtest_id}").json())

    def search(
        self,
        *,
        experiment: str | None = None,
        where: str | None = None,
        sort: str | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Backtests as a DataFrame, a row each (every page read, or the first ``limit``
        rows): the list fields, every metric and ``param.<path>`` columns. With an
        ``experiment`` it is that sweep's table, one request; without, the list's pages
        with their parameters (``fields=parameters``), 500 a request."""
        if experiment is not None and symbol is None and strategy is None:
            return self.experiment(experiment, where=where, sort=sort, limit=limit)
        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            wanted = 500 if limit is None else min(500, limit - len(rows))
            page = self._get(f"{API}/backtests", experiment=experiment, where=where, sort=sort,
                             symbol=symbol, strategy=strategy, cursor=cursor,
                             limit=wanted, fields="parameters").json()  # fmt: skip
            for item in page["items"]:
                metrics, parameters = item.pop("metrics"), item.pop("parameters")
                rows.append({**item, **metrics, **_flat(parameters, "param.")})
            cursor = page["next_cursor"]
            if cursor is None or (limit is not None and len(rows) >= limit):
                return typed(pd.DataFrame(rows))

    def experiment(
        self,
        name: str,
        *,
        where: str | None = None,
        sort: str | None = None,
        conventions: bool = False,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """A sweep's whole table (its Parquet export), or its first ``limit`` rows in
        the order of ``sort`` (``sort="-sharpe", limit=50``: the top 50 with their
        parameters, one request): a row per live backtest; with ``conventions``,
        backtesting.py's and quantstats' figures as columns too."""
        path = f"{API}/experiments/{_segment(name)}/backtests.parquet"
        asked = {"conventions": "true"} if conventions else {}
        return parquet_frame(self._get(path, where=where, sort=sort, limit=limit,
                                       **asked).content)  # fmt: skip

    def experiments(self) -> pd.DataFrame:
        return typed(pd.DataFrame(self._get(f"{API}/experiments").json()))

    def daily(self, backtest_id: str) -> pd.DataFrame:
        """The daily rows: date (UTC), equity, return, drawdown and any extra column."""
        return csv_frame(self._get(f"{API}/backtests/{backtest_id}/daily.csv").content)

    def monthly(self, backtest_id: str) -> pd.DataFrame:
        return csv_frame(self._get(f"{API}/backtests/{backtest_id}/monthly.csv").content)

    def trades(self, backtest_id: str) -> pd.DataFrame:
        return csv_frame(self._get(f"{API}/backtests/{backtest_id}/trades.csv").content)

    def significance(self, backtest_id: str, **params: Any) -> dict[str, Any]:
        """The significance report (``samples``, ``seed``, ``level``, ``block_length``)."""
        return dict(self._get(f"{API}/backtests/{backtest_id}/significance", **params).json())

    def compare(self, backtest_ids: Sequence[str], points: int | None = None) -> dict[str, Any]:
        """Backtests side by side over their common period (``points`` per curve at
        most, each extreme kept; every day when not given)."""
        ids = ",".join(backtest_ids)
        return dict(self._get(f"{API}/backtests/compare", ids=ids, points=points).json())

    def history(self, backtest_id: str) -> list[dict[str, Any]]:
        return list(self._get(f"{API}/backtests/{backtest_id}/history").json()["events"])

    def analyse(
        self, experiment: str, *, wait: bool = True, timeout: float = 3600.0, **inputs: Any
    ) -> Analysis:
        """Is the best of the sweep real? Queue an analysis of ``experiment`` (its PBO,
        SPA with the Reality Check, StepM, MCS and parameter stability; ``inputs``:
        ``partitions``, ``benchmark``, ``reps``, ``block_length``, ``seed``, ``size``) and,
        with ``wait``, poll it until it ends (``TimeoutError`` after ``timeout`` s)."""
        content = msgspec.json.encode(inputs)
        response = self.transport.send("POST", f"{API}/experiments/{_segment(experiment)}/analyses",
                                       content=content,
                                       headers={"Content-Type": "application/json"})  # fmt: skip
        location = response.headers["location"]
        found = analysis_of(response.json())
        deadline = time.monotonic() + timeout
        while wait and found.status in ("queued", "running"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"analysis {found.analysis_id} still {found.status}")
            time.sleep(0.2)
            found = analysis_of(self._get(location).json())
        return found

    def exclude(self, backtest_id: str, reason: str, idempotency_key: str | None = None) -> int:
        """Say a backtest was a mistake, not a variant tried (``reason``: 1–500
        characters): it stays listed, and no significance report or experiment counts
        it as a trial any more. The position of the exclusion in the log. The same
        ``idempotency_key`` (a fresh UUID unless given) goes with every retry, so a
        retry after a lost answer excludes once; a second exclusion is ``Conflict``."""
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
        }
        content = msgspec.json.encode({"reason": reason})
        path = f"{API}/backtests/{backtest_id}/exclusion"
        response = self.transport.send("POST", path, content=content, headers=headers)
        return int(response.json()["position"])

    def delete(self, backtest_id: str) -> None:
        """Withdraw a backtest from the live views (the log keeps it)."""
        self.transport.send("DELETE", f"{API}/backtests/{backtest_id}", gone_is_done=True)

    def events(self, after: int = 0, limit: int = 1000) -> Iterator[dict[str, Any]]:
        """Every event of the log after position ``after``, in feed order, page after
        page until the end (an auditor's or admin's key)."""
        while True:
            page = self._get(f"{API}/events", after=after, limit=limit).json()
            yield from page["events"]
            if not page["events"]:
                return
            after = page["next_after"]


class _NotSent(Exception):
    """An item of ``record_many`` left unsent after another was refused."""


def _flat(parameters: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Nested parameters as ``{prefix + dotted path: value}``, as the sweep table
    names them."""
    flat: dict[str, Any] = {}
    for key, value in parameters.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _segment(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
