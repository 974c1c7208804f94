"""Building the distribution, as ``pip install .`` does, warns of nothing, and the wheel
holds the client, its ``py.typed``, the pages' templates and static files, and the
migrations' template."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_wheel_builds_without_warnings_and_holds_its_data(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    # this machine's pip configuration names index folders it may lack: not the build's
    said = [line for line in (built.stdout + built.stderr).splitlines()
            if "warn" in line.lower() and not line.startswith("WARNING: Location")]  # fmt: skip
    assert said == []
    [wheel] = tmp_path.glob("backtest_ledger-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"backtest_ledger/py.typed", "backtest_ledger/adapters/backtrader_.py",
            "api/templates/report.html.j2", "api/static/style.css",
            "infrastructure/migrations/script.py.mako",
            "infrastructure/migrations/versions/0008_significance_reports.py"} <= names  # fmt: skip
    assert not any(name.startswith(("tests/", "bench/", "examples/")) for name in names)
