"""Writes ``pre_0010.json``: a database recorded by the service as it was before
revision 0010 (the rows of every table at revision 0009, as JSON), and what that
version served for each backtest (its detail and its three CSVs, and the list).

Run once, against that version's code (``git worktree add /tmp/old 9242d2e``)::

    PYTHONPATH=/tmp/old .venv/bin/python tests/data/record_pre_0010.py

The migration test (``tests/integration/test_storage_migration.py``) loads the rows
into a database at 0009 on each store, upgrades it, and expects the same documents.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from api.handlers import delete_backtest
from infrastructure.database import create_engine
from infrastructure.migrate import HEAD_REVISION, upgrade
from projections import documents, queries
from tests.factories import backtest_document, make_user, record

OUT = Path(__file__).with_name("pre_0010.json")


def documents_of() -> list[dict[str, Any]]:
    unusual = backtest_document(days=120, trades=12, seed=1, symbol="日経225", strategy="δ-hedge")
    unusual["parameters"] = {"note": '€ and "quotes"', "window": 3, "nested": {"a": [1, 2.5]}}
    unusual["daily_results"][3]["equity"] = None
    for i, day in enumerate(unusual["daily_results"]):
        day["cash"] = 1000.0 + i
        day["benchmark_return"] = (i % 7 - 3) / 1000
    unusual["trades"][0]["fees"] = None
    unusual["trades"][1]["side"] = "short"
    given = backtest_document(days=70, trades=5, seed=2)
    for i, day in enumerate(given["daily_results"]):
        day["return"] = None if i == 5 else (i % 5 - 2) / 100
    given["monthly_results"] = [{"month": "2024-01", "return": 0.01, "start_equity": 1.0},
                                {"month": "2024-02", "return": -0.02}]  # fmt: skip
    swept = backtest_document(days=60, trades=0, seed=3)
    swept["experiment"] = "grid"
    swept["parameters"] = {"fast": 5, "slow": 20}
    return [unusual, given, swept, backtest_document(days=30, seed=4)]


def encoded(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def main() -> None:
    assert HEAD_REVISION == "0009", "run against the code of revision 0009"
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/ledger.sqlite")
        upgrade(engine)
        alice = make_user(engine)
        ids = [record(engine, alice, doc).backtest_id for doc in documents_of()]
        delete_backtest(engine, alice, ids.pop())
        served = {
            backtest_id: {
                kind: b"".join(documents.read_document(engine, backtest_id, kind).parts()).decode()
                for kind in ("detail", "daily", "monthly", "trades")
            }
            for backtest_id in ids
        }
        with engine.connect() as conn:
            listed = documents.list_json(conn, queries.ListQuery(alice.user_id)).decode()
            names = sa.inspect(conn).get_table_names()
            tables = {
                name: [
                    {key: encoded(value) for key, value in row.items()}
                    for row in conn.execute(sa.text(f'SELECT * FROM "{name}"')).mappings()
                ]
                for name in names
                if name not in ("alembic_version", "sqlite_sequence")
            }
        engine.dispose()
    OUT.write_text(json.dumps({"revision": "0009", "owner": alice.user_id, "tables": tables,
                               "served": served, "list": listed}, ensure_ascii=False,
                              indent=1) + "\n")  # fmt: skip
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
