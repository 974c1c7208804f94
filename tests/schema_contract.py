"""``make contract``: Schemathesis with every check (``--checks all``) against a
served ledger on a fresh SQLite file with the demo's backtests, rate limit and wrong-key
throttle off, as a user and as an auditor. It exits non-zero when any check fails:
the OpenAPI document states the limits the service enforces (schemathesis.toml names
the rules it cannot state), so a client generated from it sends no refused request.

``CONTRACT_EXAMPLES`` sets the examples per operation (default 100); under CI the
examples are drawn from a fixed seed, so a red run is the same red run again."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.server_process import CLI, Server

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


def _key(env: dict[str, str], *args: str) -> str:
    printed = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, check=True)
    return next(line for line in printed.stdout.split() if line.startswith("btl_"))


def main() -> int:
    examples = os.environ.get("CONTRACT_EXAMPLES", "100")
    seeded = ["--seed", "20261206"] if os.environ.get("CI") else []
    with tempfile.TemporaryDirectory(prefix="btl-contract-") as root:
        settings = {
            "BACKTEST_LEDGER_DATABASE_URL": f"sqlite:///{root}/ledger.sqlite3",
            "BACKTEST_LEDGER_STATE_DIR": root,
            "BACKTEST_LEDGER_AUTH_FAILURES_PER_MINUTE": "0",
        }
        env = dict(os.environ, **settings)
        keys = {
            "user": _key(env, "demo"),
            "auditor": _key(env, "users", "create", "carol", "--role", "auditor"),
        }
        server = Server(settings["BACKTEST_LEDGER_DATABASE_URL"], Path(root) / "server.log",
                        **settings)  # fmt: skip
        server.start()
        try:
            failed = 0
            for role, key in keys.items():
                print(f"--- as the {role}", flush=True)
                failed |= subprocess.call([
                    SCHEMATHESIS, "run", f"{server.base}/schema/openapi.json",
                    "--checks", "all", "--max-examples", examples, "--workers", "1",
                    "--header", f"Authorization: Bearer {key}", *seeded,
                ])  # fmt: skip
        finally:
            server.stop()
    return failed


if __name__ == "__main__":
    sys.exit(main())
