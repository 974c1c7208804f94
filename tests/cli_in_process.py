"""The ``backtest-ledger`` CLI run inside the test's own process: ``main(argv)`` with
stdin, stdout, stderr and the environment of its own, answered as a finished process.

Starting the CLI as a process costs about a second of imports, several times per test;
the console script is what calls ``main`` and exits with its return value, and the
tests that are about the process itself (a real stdin pipe, a file verified offline, a
database upgraded by the first command) still start it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from api.cli import main


@contextmanager
def _environment(changes: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_cli(
    args: Sequence[str], env: Mapping[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """What ``backtest-ledger ARGS`` would exit with and print, run in this process."""
    out, err = io.BytesIO(), io.BytesIO()
    streams = (
        io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"),
        io.TextIOWrapper(out, encoding="utf-8", write_through=True),
        io.TextIOWrapper(err, encoding="utf-8", write_through=True),
    )
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = streams
    try:
        with _environment(env):
            code = main(list(args))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        for stream in streams:
            stream.flush()
            stream.detach()  # closing the wrapper would close the bytes under it
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
