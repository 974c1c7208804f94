"""The tutorial and the README's tour work as written: their Python blocks, run in
order as a newcomer would paste them, against a served ledger."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backtest_ledger import Ledger
from tests.server_process import serving_sqlite

ROOT = Path(__file__).parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(page: Path) -> str:
    """The page's Python blocks, one script, in the order they appear."""
    return "\n".join(BLOCK.findall(page.read_text()))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    # as `make run` serves: an analysis worker thread in the process
    folder = tmp_path_factory.mktemp("walkthroughs")
    with serving_sqlite(folder, BACKTEST_LEDGER_ANALYSIS_WORKERS="1") as served:
        yield served


# The tutorial's blocks are typed (or pasted) at Python's prompt, a line at a time:
# a compound statement ends at a blank line there, and an error does not stop the rest.
AT_THE_PROMPT = """
import code, sys
console = code.InteractiveConsole()
failed = []
def noted(*args, **kwargs):
    failed.append(1)
    sys.__excepthook__(*sys.exc_info())
console.showtraceback = console.showsyntaxerror = noted
for line in open(sys.argv[1]).read().splitlines():
    console.push(line)
console.push("")
sys.exit(1 if failed else 0)
"""


def run_page(
    page: Path, served: tuple[str, str], tmp_path: Path, at_the_prompt: bool = False
) -> str:
    base, key = served
    script = tmp_path / f"{page.stem}.py"
    script.write_text(python_blocks(page))
    env = dict(os.environ, BACKTEST_LEDGER_URL=base, BACKTEST_LEDGER_API_KEY=key)
    run = [sys.executable, "-c", AT_THE_PROMPT] if at_the_prompt else [sys.executable]
    done = subprocess.run([*run, str(script)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_tutorial_records_a_sweep_and_tests_it(served: tuple[str, str], tmp_path: Path) -> None:
    out = run_page(ROOT / "docs" / "tutorial.md", served, tmp_path, at_the_prompt=True)
    with Ledger(*served) as ledger:
        sweep = ledger.search(experiment="my-first-sweep", sort="-sharpe")
        assert sorted(sweep["param.lookback"]) == [5, 10, 20, 60, 120]
        best = str(sweep["backtest_id"].iloc[0])
        report = ledger.significance(best)
        # the DSR counts the five variants the tutorial tried
        assert report["dsr"]["trials"] == 5 and report["dsr"]["trials_rule"] == "experiment"
        analyses = ledger.analyse("my-first-sweep", partitions=8)
    assert analyses.pbo is not None and 0 <= analyses.pbo <= 1
    assert len(analyses.variants) == 5
    # what the tutorial printed is what the ledger holds
    assert best in out and repr(analyses.pbo) in out


def test_the_readme_tour_records_three_variants(served: tuple[str, str], tmp_path: Path) -> None:
    out = run_page(ROOT / "README.md", served, tmp_path)
    printed = [line for line in out.splitlines() if re.fullmatch(r"[0-9a-f-]{36}", line)]
    assert len(printed) == 3 and all(str(uuid.UUID(line)) == line for line in printed)
    with Ledger(*served) as ledger:
        sweep = ledger.search(experiment="tour")
        assert sorted(zip(sweep["param.n1"], sweep["param.n2"], strict=True)) == [
            (5, 20), (10, 30), (20, 60)
        ]  # fmt: skip
        assert all(ledger.get(i)["strategy"] == "SmaCross" for i in printed)
