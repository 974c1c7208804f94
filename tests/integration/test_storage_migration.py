"""Revision 0010 on a database recorded before it: the rows of every table as the
service of revision 0009 left them (``tests/data/pre_0010.json``, written by that
version's code with ``tests/data/record_pre_0010.py``), loaded into a database at
0009 on each store. After the upgrade, the stored series come from the log, every
document reads back byte for byte as that version served it, the log still verifies,
and the row-per-day tables are gone."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command

from infrastructure.audit import verify_log
from infrastructure.migrate import HEAD_REVISION, alembic_config, current_revision, upgrade
from infrastructure.users import user_by_name
from projections import documents, queries, rebuild
from tests.factories import backtest_document, record

FIXTURE = json.loads((Path(__file__).parents[1] / "data" / "pre_0010.json").read_text())
LOADED = ("users", "events", "backtests", "backtest_details", "backtest_daily",
          "backtest_monthly", "backtest_trades", "backtest_documents")  # fmt: skip
KINDS = ("detail", "daily", "monthly", "trades")


def _value(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict) and set(value) == {"bytes"}:
        return base64.b64decode(value["bytes"])
    if isinstance(column.type, sa.JSON):
        return json.loads(value)
    if isinstance(column.type, sa.DateTime):
        moment = dt.datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    if isinstance(column.type, sa.Date):
        return dt.date.fromisoformat(value)
    return value


def _recorded_before_0010(engine: sa.Engine) -> None:
    with engine.begin() as conn:  # the fixture's engine is at the head
        command.downgrade(alembic_config(conn), FIXTURE["revision"])
    schema = sa.MetaData()
    schema.reflect(engine, only=LOADED)
    with engine.begin() as conn:
        for name in LOADED:
            table = schema.tables[name]
            rows = [{key: _value(table.c[key], value) for key, value in row.items()}
                    for row in FIXTURE["tables"][name]]  # fmt: skip
            conn.execute(table.insert(), rows)
        if engine.dialect.name == "postgresql":  # the positions were given, not drawn
            conn.execute(sa.text(
                "SELECT setval(pg_get_serial_sequence('events', 'position'), "
                "(SELECT max(position) FROM events))"))  # fmt: skip


# The detail's fields added after the fixture was recorded (0011; relative: 0016), and
# the metrics added to every detail and list item (0016): each the relative block's.
ADDED_TO_DETAIL = ("bar_size", "warnings", "conventions", "relative")
ADDED_METRICS = ("beta", "alpha", "information_ratio", "tracking_error")


def _without_added_metrics(item: dict[str, Any]) -> dict[str, Any]:
    metrics = {k: v for k, v in item["metrics"].items() if k not in ADDED_METRICS}
    return {**item, "metrics": metrics}


def _served(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    """Each backtest's documents as served: the CSVs as text, the detail as text with
    the fields added since the fixture cut out (checked apart: ``_added``)."""
    served: dict[str, dict[str, Any]] = {}
    for backtest_id in FIXTURE["served"]:
        texts = {
            kind: b"".join(documents.read_document(engine, backtest_id, kind).parts()).decode()
            for kind in KINDS
        }
        detail = json.loads(texts["detail"])
        after = list(detail)[list(detail).index("sanitized_fields") + 1 :]
        assert after[: len(ADDED_TO_DETAIL)] == list(ADDED_TO_DETAIL)
        # 0014 added the provenance last: none was recorded before it
        assert list(detail)[-1] == "provenance" and detail.pop("provenance") is None
        assert list(detail["metrics"])[-len(ADDED_METRICS) :] == list(ADDED_METRICS)
        assert all(detail["metrics"][k] == detail["relative"][k] for k in ADDED_METRICS)
        detail = _without_added_metrics(detail)
        texts["detail"] = json.dumps({k: v for k, v in detail.items() if k not in ADDED_TO_DETAIL})
        served[backtest_id] = texts
    return served


def _expected() -> dict[str, dict[str, Any]]:
    """The fixture's documents, the detail decoded and encoded like ``_served``'s."""
    return {
        backtest_id: {**texts, "detail": json.dumps(json.loads(texts["detail"]))}
        for backtest_id, texts in FIXTURE["served"].items()
    }


def _added(engine: sa.Engine) -> dict[str, tuple[Any, ...]]:
    return {
        backtest_id: tuple(
            json.loads(b"".join(documents.read_document(engine, backtest_id, "detail").parts()))[
                key
            ]
            for key in ADDED_TO_DETAIL
        )
        for backtest_id in FIXTURE["served"]
    }


@pytest.mark.filterwarnings("ignore:Did not recognize type 'xid8'")
def test_a_database_recorded_before_0010_serves_the_same_documents_after_it(
    engine: sa.Engine,
) -> None:
    _recorded_before_0010(engine)
    assert current_revision(engine) == "0009"
    assert upgrade(engine) is True and current_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert not {"backtest_daily", "backtest_monthly", "backtest_trades"} & tables
    # what every CLI command (serve included) does right after an upgrade; the deleted
    # backtest's parts too, for an as-of read
    assert not rebuild.verify(engine).ok
    assert rebuild.fill_missing_documents(engine) == 4
    assert rebuild.fill_missing_documents(engine) == 0
    assert rebuild.verify(engine).ok
    assert _served(engine) == _expected()
    # daily rows a day apart, "1d" as their interval says, with 365 periods for their
    # weekends, a final equity and no null pnl: nothing to warn of, but for the one of
    # 70 days that gives returns of its own, (i % 5 - 2) / 100, unrelated to its equity
    # (69 rows; the sixth is null): since 0012 that is a warning at its first row
    added = _added(engine)
    given = next(backtest_id for backtest_id, served in FIXTURE["served"].items()
                 if len(json.loads(served["detail"])["daily_results"]) == 70)  # fmt: skip
    assert {backtest_id: (bar, [w["pointer"] for w in warnings])
            for backtest_id, (bar, warnings, _, _) in added.items()} == {
        backtest_id: ("1d", ["/daily_results/0/return"] if backtest_id == given else [])
        for backtest_id in FIXTURE["served"]
    }  # fmt: skip
    assert "69 row(s) disagree" in added[given][1][0]["message"]
    # quantstats' Sharpe is the ledger's own convention: the old detail's figure
    for backtest_id, (_, _, conventions, _) in added.items():
        old = json.loads(FIXTURE["served"][backtest_id]["detail"])["metrics"]["sharpe"]
        assert conventions["quantstats"]["sharpe"] == pytest.approx(old, rel=1e-12)
    with engine.connect() as conn:
        listed = documents.list_json(conn, queries.ListQuery(FIXTURE["owner"]))
    page = json.loads(listed)
    assert json.dumps({**page, "items": [_without_added_metrics(i) for i in page["items"]]}) == (
        json.dumps(json.loads(FIXTURE["list"]))
    )
    # the relative block from the fixture's own rows: its days' returns and benchmark
    for backtest_id, (_, _, _, relative) in added.items():
        days = json.loads(FIXTURE["served"][backtest_id]["detail"])["daily_results"]
        equity = np.array([d["equity"] for d in days], dtype=float)
        capital = json.loads(FIXTURE["served"][backtest_id]["detail"])["initial_capital"]
        given_returns = [d.get("return") for d in days]
        if any(r is not None for r in given_returns):
            returns = np.array([np.nan if r is None else r for r in given_returns], dtype=float)
        else:
            returns = equity / np.r_[capital, equity[:-1]] - 1
        bench = np.array([np.nan if d.get("benchmark_return") is None
                          else d["benchmark_return"] for d in days], dtype=float)  # fmt: skip
        known = np.isfinite(returns) & np.isfinite(bench)
        assert relative["pairs"] == int(known.sum())
        if known.sum() > 2 and np.var(bench[known]) > 0:
            r, b = returns[known], bench[known]
            assert relative["beta"] == pytest.approx(np.cov(r, b)[0, 1] / np.var(b, ddof=1))
    assert verify_log(engine).ok  # the events' bytes, as hashed, untouched
    # a rebuild from the log gives the same read models, and the store takes new records
    rebuild.rebuild(engine)
    assert rebuild.verify(engine).ok and _served(engine) == _expected()
    with engine.connect() as conn:
        user = user_by_name(conn, "alice")
    fresh = record(engine, user, backtest_document(seed=9)).backtest_id
    assert b'"backtest_id":"%s"' % fresh.encode() in b"".join(
        documents.read_document(engine, fresh, "detail").parts()
    )
