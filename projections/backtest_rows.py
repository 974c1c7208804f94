"""What one backtest's events make of the read-model tables, as plain rows.

Pure functions of the stored events: the projector inserts these rows, and
``projections verify`` compares them with what is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from msgspec import UNSET

from domain.events import BacktestRecorded
from domain.metrics import compute_metrics
from domain.results import given
from domain.series import derive
from infrastructure.event_store import StoredEvent
from projections.csv_export import COLUMNS, DAILY_EXTRA_COLUMNS, ExportKind, write_csv
from projections.documents import document_rows, json_parts
from projections.experiments import sweep_cells
from projections.views import detail_of, summary_of

Row = dict[str, Any]


@dataclass
class BacktestRows:
    """The rows of one backtest in every read-model table."""

    summary: Row
    detail: Row
    daily: list[Row] = field(default_factory=list)
    monthly: list[Row] = field(default_factory=list)
    trades: list[Row] = field(default_factory=list)
    documents: list[Row] = field(default_factory=list)

    def per_table(self) -> tuple[list[Row], ...]:
        """The rows of each table of ``ReadModels.tables()``, in that order."""
        return (
            [self.summary],
            [self.detail],
            self.daily,
            self.monthly,
            self.trades,
            self.documents,
        )


def recorded_rows(stored: StoredEvent, event: BacktestRecorded) -> BacktestRows:
    """The rows a BacktestRecorded event produces."""
    sub = event.submission
    days = sub.daily_results
    capital = sub.initial_capital or 0.0
    derived = derive(sub)
    returns, dds = derived.returns, derived.drawdowns
    metrics = msgspec.structs.asdict(compute_metrics(sub, derived))
    extras = [
        name for name in DAILY_EXTRA_COLUMNS if any(getattr(d, name) is not UNSET for d in days)
    ]
    summary = {
        "backtest_id": event.backtest_id,
        "owner_id": event.owner_id,
        "symbol": sub.symbol,
        "interval": sub.interval,
        "strategy": sub.strategy,
        "test_mode": sub.test_mode,
        "market_type": sub.market_type,
        "start_date": days[0].date,
        "end_date": days[-1].date,
        "created_at": stored.recorded_at,
        "position": stored.position,
        "deleted_position": None,
        "deleted_at": None,
        **metrics,
        "experiment": sub.experiment_name,
        "parameters": sub.parameters,
    }
    detail = {
        "backtest_id": event.backtest_id,
        "parameters": msgspec.json.encode(sub.parameters).decode(),
        "initial_capital": capital,
        "periods_per_year": sub.periods_per_year,
        "reported_metrics": None
        if sub.metrics is UNSET
        else msgspec.json.encode(sub.metrics).decode(),
        "sanitized_fields": msgspec.json.encode(stored.meta().sanitized_fields).decode(),
        "daily_extra_columns": ",".join(extras),
        "monthly_derived": sub.monthly_results is UNSET,
    }
    daily = [
        {
            "backtest_id": event.backtest_id,
            "day_no": i,
            "date": day.date,
            "equity": day.equity,
            "return": returns[i],
            "drawdown": dds[i],
            "cash": given(day.cash),
            "position": given(day.position),
            "benchmark_return": given(day.benchmark_return),
        }
        for i, day in enumerate(days)
    ]
    monthly = [
        {
            "backtest_id": event.backtest_id,
            "month_no": i,
            "month": m.month,
            "return": m.return_,
            "start_equity": given(m.start_equity),
            "end_equity": given(m.end_equity),
        }
        for i, m in enumerate(derived.months)
    ]
    trades = [
        {
            "backtest_id": event.backtest_id,
            "trade_no": i,
            "side": t.side,
            "entry_time": t.entry_time,
            "exit_time": t.exit_time,
            "entry_price": t.entry_price,
            "exit_price": t.exit_price,
            "quantity": t.quantity,
            "pnl": t.pnl,
            "return": given(t.return_),
            "fees": given(t.fees),
        }
        for i, t in enumerate(sub.trades, start=1)
    ]
    bid = event.backtest_id
    item = summary_of(summary)
    summary["list_item"] = msgspec.json.encode(item).decode()
    summary["sweep_row"], summary["sweep_params"] = sweep_cells(summary, sub.parameters)
    documents = [
        *document_rows(
            bid,
            "detail",
            json_parts(msgspec.json.encode(detail_of(item, detail, daily, monthly, trades))),
        ),
        *csv_rows(bid, "daily", (*COLUMNS["daily"], *extras), daily),
        *csv_rows(bid, "monthly", COLUMNS["monthly"], monthly),
        *csv_rows(bid, "trades", COLUMNS["trades"], trades),
    ]
    return BacktestRows(summary, detail, daily, monthly, trades, documents)


def csv_rows(
    backtest_id: str, kind: ExportKind, columns: Sequence[str], rows: list[Row]
) -> list[Row]:
    """The stored parts of one export: ``columns`` of ``rows``, through the CSV writer."""
    parts = write_csv(columns, [[row[name] for row in rows] for name in columns])
    return document_rows(backtest_id, kind, list(parts))


def deleted_values(stored: StoredEvent) -> Row:
    """The summary columns a BacktestDeleted event sets."""
    return {"deleted_position": stored.position, "deleted_at": stored.recorded_at}
