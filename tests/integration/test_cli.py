"""The ``backtest-ledger`` CLI as scripts use it: stdout, stderr and exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import msgspec
import numpy as np
import pytest
import sqlalchemy as sa

from infrastructure.database import create_engine, write_transaction
from infrastructure.migrate import upgrade
from infrastructure.tables import backtests
from infrastructure.users import Role, create_user, user_by_name
from projections import queries
from tests.cli_in_process import run_cli
from tests.factories import backtest_document, body
from tests.server_process import CLI


class Ledger:
    """The CLI on one database, run in-process (``tests/cli_in_process.py``); the tests
    about the process itself start the console script."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url = url
        self.tmp = tmp_path
        self.env = {"BACKTEST_LEDGER_DATABASE_URL": url}

    def run(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
        done = run_cli(args, self.env, stdin)
        return subprocess.CompletedProcess(
            done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
        )

    def stdout_bytes(self, *args: str) -> bytes:
        done = run_cli(args, self.env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def user(self, name: str) -> None:
        """A user created in-process, for tests about another command: starting the CLI
        costs about a second, and ``users create`` is tested through it elsewhere."""
        engine = create_engine(self.url)
        try:
            upgrade(engine)
            with write_transaction(engine) as conn:
                create_user(conn, name, Role.USER)
        finally:
            engine.dispose()

    def file(self, document: dict[str, object], name: str = "bt.json") -> str:
        path = self.tmp / name
        path.write_bytes(body(document))
        return str(path)


@pytest.fixture
def ledger(database_url: str, tmp_path: Path) -> Ledger:
    return Ledger(database_url, tmp_path)


def test_the_full_lifecycle_from_the_command_line(ledger: Ledger) -> None:
    assert "newest" in ledger.run("db", "upgrade").stderr
    key = ledger.ok("users", "create", "alice")
    assert key.strip().startswith("btl_") and key.count("\n") == 1
    doc = backtest_document(days=45, trades=5)
    doc["daily_results"][2]["return"] = float("nan")
    recorded = ledger.run("record", ledger.file(doc), "--user", "alice")
    assert recorded.returncode == 0, recorded.stderr
    backtest_id = recorded.stdout.strip()
    assert len(backtest_id) == 36 and "/daily_results/2/return" in recorded.stderr

    listed = json.loads(ledger.ok("list", "--user", "alice", "--json"))
    assert [i["backtest_id"] for i in listed["items"]] == [backtest_id]
    assert set(listed["items"][0]["metrics"]) >= {"sharpe", "cagr", "max_drawdown", "calmar"}
    assert backtest_id in ledger.ok("list", "--user", "alice")

    shown = json.loads(ledger.ok("show", backtest_id, "--user", "alice", "--json"))
    assert shown["sanitized_fields"] == ["/daily_results/2/return"]
    assert shown["daily_results"][2]["return"] is None
    assert len(shown["trades"]) == 5
    engine = create_engine(ledger.url)
    with engine.connect() as conn:  # the stored document is what the typed rows encode to
        owner = user_by_name(conn, "alice").user_id
        typed = msgspec.json.encode(queries.get_detail(conn, backtest_id, owner))
    engine.dispose()
    assert ledger.stdout_bytes("show", backtest_id, "--user", "alice", "--json") == typed + b"\n"
    assert "sharpe" in ledger.ok("show", backtest_id, "--user", "alice")

    csv_stdout = ledger.stdout_bytes("export", backtest_id, "trades")
    out_file = ledger.tmp / "trades.csv"
    ledger.ok("export", backtest_id, "trades", "-o", str(out_file))
    assert out_file.read_bytes() == csv_stdout
    assert out_file.read_bytes().startswith(b"trade_no,side,")

    verified = json.loads(ledger.ok("projections", "verify", "--json"))
    assert verified == {"ok": True, "backtests": 1, "mismatches": [], "skipped": []}
    rebuilt = ledger.run("projections", "rebuild")
    assert rebuilt.returncode == 0 and "1 events" in rebuilt.stderr

    assert ledger.run("delete", backtest_id, "--user", "alice").returncode == 0
    again = ledger.run("delete", backtest_id, "--user", "alice")
    assert again.returncode == 2 and "not found" in again.stderr
    assert json.loads(ledger.ok("list", "--user", "alice", "--json"))["items"] == []


def test_bad_input_exits_2_with_one_line_naming_the_field(ledger: Ledger) -> None:
    ledger.user("alice")
    doc = backtest_document(days=5)
    doc["daily_results"][3]["date"] = "2023-01-01"
    done = ledger.run("record", ledger.file(doc), "--user", "alice")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "/daily_results/3/date" in done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads(ledger.ok("list", "--user", "alice", "--json"))["items"] == []


def test_a_sweep_records_every_file_in_one_command_one_id_per_line(ledger: Ledger) -> None:
    ledger.user("alice")
    symbols = ["AAA", "BBB", "CCC"]
    docs = [backtest_document(days=5, symbol=symbol) for symbol in symbols]
    docs[1]["daily_results"][2]["return"] = float("inf")
    files = [ledger.file(doc, f"{symbol}.json") for doc, symbol in zip(docs, symbols, strict=True)]
    done = ledger.run("record", *files, "--user", "alice")
    assert done.returncode == 0, done.stderr
    ids = done.stdout.splitlines()
    assert len(set(ids)) == 3 and all(len(i) == 36 for i in ids)
    for backtest_id, symbol in zip(ids, symbols, strict=True):  # the ids in file order
        shown = json.loads(ledger.ok("show", backtest_id, "--user", "alice", "--json"))
        assert shown["symbol"] == symbol
    listed = json.loads(ledger.ok("list", "--user", "alice", "--json"))["items"]
    assert sorted(item["backtest_id"] for item in listed) == sorted(ids)
    assert f"{files[1]}: stored 1 non-finite value(s) as null: /daily_results/2/return" in (
        done.stderr
    )
    assert "recorded 3 of 3 backtests" in done.stderr
    assert "validate: 100%" in done.stderr and "record: 100%" in done.stderr  # progress


def test_a_bad_file_in_a_sweep_is_named_and_nothing_is_recorded(ledger: Ledger) -> None:
    ledger.user("alice")
    bad = backtest_document(days=5)
    bad["daily_results"][3]["date"] = "2023-01-01"
    files = [
        ledger.file(backtest_document(days=5), "first.json"),
        ledger.file(bad, "second.json"),
        ledger.file(backtest_document(days=5), "third.json"),
    ]
    done = ledger.run("record", *files, "--user", "alice")
    assert done.returncode == 2 and done.stdout == ""
    reason = done.stderr.splitlines()[-1]  # after the validation pass's progress
    assert reason.startswith(f"error: {files[1]}: invalid backtest at /daily_results/3/date")
    assert "Traceback" not in done.stderr and "record" not in done.stderr
    assert json.loads(ledger.ok("list", "--user", "alice", "--json"))["items"] == []
    nobody = ledger.run("record", *files, "--user", "nobody")  # said before validating
    assert nobody.returncode == 2 and nobody.stderr.startswith("error: no user named 'nobody'")
    stdin_too = ledger.run("record", "-", files[0], "--user", "alice")
    assert stdin_too.returncode == 2 and "stdin" in stdin_too.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("record", "/no/such/file.json", "--user", "alice"),
        ("list", "--user", "nobody"),
        ("show", "00000000-0000-0000-0000-000000000000", "--user", "alice"),
        ("export", "00000000-0000-0000-0000-000000000000", "daily"),
        ("export", "x", "weekly"),
        ("audit", "export", "--after", str(2**63)),
        ("list", "--user", "alice", "--as-of", f"position:{2**64}"),
        ("users", "create", "alice"),
        ("frobnicate",),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(ledger: Ledger, args: tuple[str, ...]) -> None:
    ledger.user("alice")
    done = ledger.run(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_record_reads_stdin_and_database_url_flag_selects_the_store(
    ledger: Ledger, tmp_path: Path
) -> None:
    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    ledger.ok("users", "create", "alice", "--database-url", other)
    done = subprocess.run(
        [CLI, "--database-url", other, "record", "-", "--user", "alice"],
        input=body(backtest_document()), capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip()) == 36
    nobody = subprocess.run(  # the console script exits with what main returns
        [CLI, "--database-url", other, "record", "-", "--user", "nobody"],
        input=body(backtest_document()), capture_output=True, timeout=120,
    )  # fmt: skip
    assert nobody.returncode == 2 and b"nobody" in nobody.stderr and nobody.stdout == b""
    assert b"Traceback" not in nobody.stderr


def test_verify_exits_1_naming_the_altered_backtest(ledger: Ledger) -> None:
    ledger.user("alice")
    backtest_id = ledger.ok("record", ledger.file(backtest_document()), "--user", "alice").strip()
    engine = create_engine(ledger.url)
    with engine.begin() as conn:
        conn.execute(backtests.update().values(sharpe=99.0))
    engine.dispose()
    done = ledger.run("projections", "verify", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert report["mismatches"][0]["backtest_id"] == backtest_id
    human = ledger.run("projections", "verify")
    assert human.returncode == 1 and backtest_id in human.stdout
    assert ledger.run("projections", "rebuild").returncode == 0
    assert ledger.run("projections", "verify").returncode == 0


def test_auditors_cannot_record(ledger: Ledger) -> None:
    ledger.ok("users", "create", "carol", "--role", "auditor")
    done = ledger.run("record", ledger.file(backtest_document()), "--user", "carol")
    assert done.returncode == 2 and "auditor" in done.stderr
    engine = create_engine(ledger.url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one() == 0
    engine.dispose()


@pytest.mark.feed
def test_an_auditor_exports_verifies_offline_and_replays(ledger: Ledger, tmp_path: Path) -> None:
    ledger.user("alice")
    for seed in range(3):
        ledger.ok("record", ledger.file(backtest_document(seed=seed)), "--user", "alice")
    summary = json.loads(ledger.ok("audit", "verify", "--json"))
    assert summary["ok"] is True and summary["events"] == 3 and summary["streams"] == 3
    log = tmp_path / "log.ndjson"
    ledger.ok("audit", "export", "-o", str(log))
    assert log.read_bytes() == ledger.stdout_bytes("audit", "export")
    assert len(log.read_bytes().splitlines()) == 3
    tail = ledger.stdout_bytes("audit", "export", "--after", str(json.loads(
        log.read_bytes().splitlines()[0])["position"]))  # fmt: skip
    assert tail.splitlines() == log.read_bytes().splitlines()[1:]
    offline = subprocess.run(
        [CLI, "audit", "verify", "--file", str(log), "--json"],
        env=dict(os.environ, BACKTEST_LEDGER_DATABASE_URL="sqlite:////nonexistent/x.db"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout)["digest"] == summary["digest"]

    forged = tmp_path / "forged.ndjson"
    forged.write_bytes(log.read_bytes().replace(b'"spot"', b'"sp0t"', 1))
    caught = ledger.run("audit", "verify", "--file", str(forged))
    assert caught.returncode == 1 and "MISMATCH" in caught.stdout

    replica = Ledger(f"sqlite:///{tmp_path / 'replica.sqlite3'}", tmp_path)
    refused = replica.run("projections", "rebuild", "--from-file", str(forged))
    assert refused.returncode == 1
    replayed = replica.run("projections", "rebuild", "--from-file", str(log))
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replica.ok("audit", "verify", "--json"))["digest"] == summary["digest"]
    assert json.loads(replica.ok("projections", "verify", "--json"))["ok"] is True
    again = replica.run("projections", "rebuild", "--from-file", str(log))
    assert again.returncode == 2 and "empty" in again.stderr


def test_upgrading_from_0004_moves_the_list_items_into_the_list_model(ledger: Ledger) -> None:
    """0005 moves each stored list item from backtest_documents into its backtests row,
    in SQL (0006 then renders only the rows of a sweep's table from the log), and every
    read gives the same bytes."""
    from alembic import command

    from infrastructure.migrate import alembic_config
    from infrastructure.tables import backtest_documents, backtests

    ledger.user("alice")
    files = [ledger.file(backtest_document(seed=s), f"bt{s}.json") for s in range(3)]
    ids = ledger.ok("record", *files, "--user", "alice").split()
    listed = ledger.ok("list", "--user", "alice", "--json")
    shown = ledger.ok("show", ids[0], "--user", "alice", "--json")
    engine = create_engine(ledger.url)
    with engine.connect() as conn:
        items = dict(conn.execute(sa.select(backtests.c.backtest_id, backtests.c.list_item)).all())
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
    with engine.connect() as conn:
        assert "list_item" not in {c["name"] for c in sa.inspect(conn).get_columns("backtests")}
        summaries = dict(
            conn.execute(
                sa.select(backtest_documents.c.backtest_id, backtest_documents.c.body).where(
                    backtest_documents.c.kind == "summary"
                )
            ).all()
        )
    tail = ',"experiment":null}'  # 0006's member, which the downgrade takes out again
    assert all(item.endswith(tail) for item in items.values())
    assert summaries == {k: v.removesuffix(tail) + "}" for k, v in items.items()}
    assert set(items) == set(ids)

    env = dict(os.environ, BACKTEST_LEDGER_DATABASE_URL=ledger.url)
    upgraded = subprocess.run([CLI, "list", "--user", "alice", "--json"], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert upgraded.returncode == 0, upgraded.stderr
    # 0006's rows of a sweep's table are rendered from the log; the list items are not
    assert "wrote the stored series and documents of 3 backtests" in upgraded.stderr
    assert upgraded.stdout == listed
    assert ledger.ok("show", ids[0], "--user", "alice", "--json") == shown
    with engine.connect() as conn:
        left = conn.execute(
            sa.select(sa.func.count()).where(backtest_documents.c.kind == "summary")
        ).scalar_one()
    engine.dispose()
    assert left == 0
    assert json.loads(ledger.ok("projections", "verify", "--json"))["ok"] is True


@pytest.mark.parametrize("revision", ["0002", "0003"])
def test_upgrading_writes_the_documents_of_older_backtests(ledger: Ledger, revision: str) -> None:
    """From before the stored CSV parts (0002) or before the JSON documents (0003)."""
    from alembic import command

    from infrastructure.migrate import alembic_config
    from infrastructure.tables import backtest_documents

    ledger.user("alice")
    doc = backtest_document(days=40, trades=6)
    backtest_id = ledger.ok("record", ledger.file(doc), "--user", "alice").strip()
    before = {kind: ledger.stdout_bytes("export", backtest_id, kind)
              for kind in ("daily", "monthly", "trades")}  # fmt: skip
    shown = ledger.ok("show", backtest_id, "--user", "alice", "--json")
    engine = create_engine(ledger.url)
    with engine.begin() as conn:  # back to how a database of that version was
        command.downgrade(alembic_config(conn), revision)
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
    assert backtest_documents.name not in tables
    assert ("backtest_csv" in tables) == (revision == "0003")
    engine.dispose()

    env = dict(os.environ, BACKTEST_LEDGER_DATABASE_URL=ledger.url)
    upgraded = subprocess.run([CLI, "export", backtest_id, "trades"], env=env,
                              capture_output=True, timeout=120)  # fmt: skip
    assert upgraded.returncode == 0, upgraded.stderr
    assert b"wrote the stored series and documents of 1 backtests" in upgraded.stderr
    assert upgraded.stdout == before["trades"]
    for kind in ("daily", "monthly"):
        assert ledger.stdout_bytes("export", backtest_id, kind) == before[kind]
    assert ledger.ok("show", backtest_id, "--user", "alice", "--json") == shown
    assert json.loads(ledger.ok("projections", "verify", "--json"))["ok"] is True


def test_search_and_experiments_from_the_command_line(ledger: Ledger) -> None:
    import pandas as pd

    ledger.user("alice")
    docs = []
    for seed in range(4):
        doc = backtest_document(days=30 + seed, seed=seed)
        doc["parameters"] = {"fast": [5, 10][seed % 2], "slow": 30}
        doc["experiment"] = "grid"
        docs.append(ledger.file(doc, f"v{seed}.json"))
    ids = ledger.ok("record", *docs, "--user", "alice").split()
    engine = create_engine(ledger.url)
    with engine.connect() as conn:
        sharpe = dict(conn.execute(sa.select(backtests.c.backtest_id, backtests.c.sharpe)).all())
    engine.dispose()
    fast10 = sorted((i for n, i in enumerate(ids) if n % 2), key=lambda i: -sharpe[i])

    page = json.loads(ledger.ok("search", "--user", "alice", "--where", "parameters.fast = 10",
                                "--sort", "-sharpe", "--json"))  # fmt: skip
    assert [item["backtest_id"] for item in page["items"]] == fast10
    assert all(item["experiment"] == "grid" for item in page["items"])
    text = ledger.ok("search", "--experiment", "grid", "--sort", "sharpe", "--limit", "2")
    assert [line.split()[0] for line in text.splitlines()] == sorted(ids, key=sharpe.get)[:2]
    table = ledger.stdout_bytes("search", "--where", "parameters.fast = 10", "--sort", "-sharpe",
                                "--csv")  # fmt: skip
    frame = pd.read_csv(io.BytesIO(table))
    assert list(frame["backtest_id"]) == fast10 and list(frame["param.fast"]) == [10, 10]

    # the figures against a benchmark: one variant with its index as benchmark
    with_index = backtest_document(days=60, seed=7)
    rng = np.random.default_rng(7)
    index = rng.normal(0.0005, 0.01, 60)
    equity = 10_000 * np.cumprod(1 + 0.5 * index + rng.normal(0, 0.002, 60))
    for row, e, b in zip(with_index["daily_results"], equity, index, strict=True):
        row["equity"], row["benchmark_return"] = float(e), float(b)
    [half] = ledger.ok("record", ledger.file(with_index, "half.json"), "--user", "alice").split()
    found = json.loads(ledger.ok("search", "--user", "alice", "--where",
                                 "beta < 0.8 and information_ratio > 0", "--json"))  # fmt: skip
    assert [item["backtest_id"] for item in found["items"]] == [half]  # the others: null beta

    bad = ledger.run("search", "--where", "sharpe > 1 and nope < 2")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "offset 15" in bad.stderr and "'nope'" in bad.stderr and "Traceback" not in bad.stderr

    [row] = json.loads(ledger.ok("experiments", "list", "--json"))
    assert (row["name"], row["live"], row["trials"]) == ("grid", 4, 4)
    out = ledger.tmp / "grid.parquet"
    ledger.ok("experiments", "export", "grid", "--format", "parquet", "-o", str(out))
    assert sorted(pd.read_parquet(out)["backtest_id"]) == sorted(ids)
    csv = pd.read_csv(io.BytesIO(ledger.stdout_bytes("experiments", "export", "grid")))
    assert list(csv["backtest_id"]) == ids  # oldest first
    missing = ledger.run("experiments", "export", "nope")
    assert missing.returncode == 2 and "experiment 'nope' not found" in missing.stderr


def test_experiments_analyse_waits_running_the_analysis_itself(ledger: Ledger) -> None:
    """No service runs: ``--wait`` computes the job in the command, the same PBO as the
    domain's on the recorded returns, and asking again reads the same analysis."""
    from domain.overfitting import probability_of_backtest_overfitting

    ledger.user("alice")
    docs = []
    for n in range(4):
        doc = backtest_document(days=120, trades=0, seed=n)
        doc["experiment"] = "grid"
        docs.append(doc)
        ledger.ok("record", ledger.file(doc, f"{n}.json"), "--user", "alice")
    asked = ("experiments", "analyse", "grid", "--user", "alice", "--partitions", "4")
    done = json.loads(ledger.ok(*asked, "--reps", "50", "--wait", "--json"))
    assert done["status"] == "done" and done["progress"] == 1.0
    equity = np.array([[row["equity"] for row in doc["daily_results"]] for doc in docs]).T
    returns = equity / np.vstack([np.full(4, 10_000.0), equity[:-1]]) - 1
    assert done["result"]["pbo"]["pbo"] == probability_of_backtest_overfitting(returns, 4, 365).pbo
    text = ledger.ok("experiments", "analyse", "grid", "--user", "alice", "--partitions", "4",
                     "--reps", "50")  # fmt: skip
    assert text.startswith(f"analysis {done['analysis_id']}: done") and "PBO " in text
    refused = ledger.run("experiments", "analyse", "grid", "--user", "alice", "--partitions", "5")
    assert refused.returncode == 2 and "partitions" in refused.stderr
    alone = ledger.run("experiments", "analyse", "nothing", "--user", "alice")
    assert alone.returncode != 0 and "nothing" in alone.stderr
