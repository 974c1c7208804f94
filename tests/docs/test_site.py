"""The docs build without a warning (a broken link, a missing page or reference fails
it), the README stays short, and the repository stands alone: nothing in it points
to a file outside it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    client = (tmp_path / "reference" / "client" / "index.html").read_text()
    # mkdocstrings rendered the client from its docstrings
    assert "record_backtesting" in client and "Backtests as a DataFrame" in client
    # the examples tested in the suite are the ones the how-to pages show
    example = (ROOT / "examples" / "record_vectorbt.py").read_text()
    shown = (tmp_path / "how-to" / "record-vectorbt" / "index.html").read_text()
    assert "year_freq" in example and "year_freq" in shown and "--8&lt;--" not in shown


def test_the_readme_is_short_and_its_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert readme.startswith("# backtest-ledger") and "make run" in readme[:800]
    assert "make test" in readme[:800]
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).is_file(), target


def test_every_page_in_docs_is_in_the_navigation() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert {page for page in pages if f": {page}" not in config} == set()


def test_nothing_refers_to_a_file_outside_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()  # fmt: skip
    outside = re.compile(r"\.\./shared|\bSPEC(\.md)?\b|\bseed\.md\b")
    found = []
    for name in tracked:
        path = ROOT / name
        if path == Path(__file__):  # its own pattern names what it looks for
            continue
        if path.suffix in {".py", ".md", ".toml", ".yml", ".yaml", ".sh", ".j2", ".cfg"} or (
            path.name in {"Makefile", "run"}
        ):
            found += [f"{name}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1)
                      if outside.search(line)]  # fmt: skip
    assert found == []
