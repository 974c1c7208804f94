"""Every script in examples/ runs as a user runs it, against a served ledger, and
records a backtest that reads back."""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backtest_ledger import Ledger
from tests.server_process import serving_sqlite

EXAMPLES = Path(__file__).parents[2] / "examples"
STRATEGIES = {"record_backtesting_py.py": "SmaCross", "record_vectorbt.py": "ma_cross",
              "record_backtrader.py": "SmaCross", "record_pandas.py": "momentum-20"}  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with serving_sqlite(tmp_path_factory.mktemp("examples")) as served:
        yield served


def test_every_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(STRATEGIES)
    assert [p.name for p in EXAMPLES.glob("*.sh")] == ["record_http.sh"]
    assert all(len(p.read_text().splitlines()) < 30 for p in EXAMPLES.iterdir())


def test_the_curl_example_records_reads_and_downloads(served: tuple[str, str]) -> None:
    base, key = served
    env = dict(os.environ, BACKTEST_LEDGER_URL=base, BACKTEST_LEDGER_API_KEY=key)
    done = subprocess.run(["bash", str(EXAMPLES / "record_http.sh")], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    backtest_id = str(uuid.UUID(lines[0]))
    with Ledger(base, key) as ledger:
        detail = ledger.get(backtest_id)
    # NaN was sent as Python writes it, and stored as null, never 0
    assert detail["daily_results"][3]["equity"] is None
    assert detail["sanitized_fields"] == ["/daily_results/3/equity"]
    # 10,000 → 10,050 over the known days; one trade, a win
    assert detail["metrics"]["total_return"] == 10_050 / 10_000 - 1
    assert detail["metrics"]["num_trades"] == 1 and detail["metrics"]["win_rate"] == 1.0
    # the download it printed: the header, then the days, the last equity empty
    csv_start = lines.index("date,equity,return,drawdown")
    assert lines[csv_start + 4].startswith("2024-01-05,,")


@pytest.mark.parametrize("script", sorted(STRATEGIES))
def test_the_example_records_a_backtest(served: tuple[str, str], script: str) -> None:
    base, key = served
    env = dict(os.environ, BACKTEST_LEDGER_URL=base, BACKTEST_LEDGER_API_KEY=key)
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    backtest_id = str(uuid.UUID(done.stdout.splitlines()[0]))
    with Ledger(base, key) as ledger:
        detail = ledger.get(backtest_id)
    assert detail["strategy"] == STRATEGIES[script] and detail["symbol"] == "SPX"
    assert len(detail["daily_results"]) == 5031 and detail["metrics"]["sharpe"] is not None
    assert detail["periods_per_year"] == 252 and detail["warnings"] == []
    # each records its provenance: the script in this checkout, the data it ran on
    provenance = detail["provenance"]
    assert provenance["code"]["entry_point"] == f"examples/{script}"
    assert (
        provenance["code"]["commit"]
        == subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=EXAMPLES, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    assert provenance["data"]["rows"] >= 5031 and len(provenance["data"]["sha256"]) == 64
    strategy = _class_source(EXAMPLES / script, STRATEGIES[script])
    if strategy is not None:  # a strategy class: its source, as the file holds it
        assert provenance["code"]["source_sha256"] == hashlib.sha256(strategy).hexdigest()


def _class_source(path: Path, name: str) -> bytes | None:
    """The text of class ``name`` in a file, cut from the file by its syntax tree."""
    text = path.read_text()
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            segment = ast.get_source_segment(text, node)
            return None if segment is None else segment.encode() + b"\n"
    return None
