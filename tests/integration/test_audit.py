"""Tamper evidence, offline verification and replay of exported logs (both stores)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from api.handlers import delete_backtest
from infrastructure import log_file
from infrastructure.audit import export_log, verify_chain, verify_log
from infrastructure.database import as_utc
from infrastructure.tables import LIVE, events
from projections.rebuild import LogNotEmpty, rebuild_from_log, verify
from tests.factories import backtest_document, make_user, record
from tests.server_process import CLI


@contextmanager
def triggers_bypassed(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A superuser's way around the append-only triggers, as an attacker would."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            yield conn
        else:
            ddl = (
                conn.execute(
                    sa.text(
                        "SELECT sql FROM sqlite_master WHERE type='trigger' AND tbl_name='events'"
                    )
                )
                .scalars()
                .all()
            )
            for name in ("events_no_update", "events_no_delete"):
                conn.execute(sa.text(f"DROP TRIGGER {name}"))
            yield conn
            for statement in ddl:
                conn.execute(sa.text(statement))


def populated(engine: sa.Engine) -> list[str]:
    alice, bob = make_user(engine, "alice"), make_user(engine, "bob")
    ids = [record(engine, alice, backtest_document(seed=i, days=20)).backtest_id for i in range(3)]
    ids.append(record(engine, bob, backtest_document(seed=7, days=20)).backtest_id)
    delete_backtest(engine, alice, ids[1])
    return ids


def positions_and_hashes(engine: sa.Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        order = "tx_id, position" if conn.dialect.name == "postgresql" else "position"
        rows = conn.execute(sa.text(f"SELECT position, hash FROM events ORDER BY {order}"))
        return [(p, h) for p, h in rows]


@pytest.mark.feed
def test_an_untouched_log_verifies_with_an_independent_digest(engine: sa.Engine) -> None:
    populated(engine)
    report = verify_log(engine)
    rows = positions_and_hashes(engine)
    expected = hashlib.sha256("".join(f"{h}\n" for _, h in rows).encode()).hexdigest()
    assert report.ok and report.first_mismatch is None
    assert (report.events, report.streams) == (5, 4)
    assert report.head_position == rows[-1][0]
    assert report.digest == expected


@pytest.mark.feed
def test_an_idle_older_transaction_holds_events_back_but_hides_no_edit(
    pg_engine: sa.Engine, postgres_schema_url: str
) -> None:
    """An idle transaction that took a transaction id before the events were written
    keeps the feed from releasing them: they are not in the digest yet, but their chains
    are checked, so an edit to one of them is caught while the transaction stays open."""
    cli_env = dict(os.environ, BACKTEST_LEDGER_DATABASE_URL=postgres_schema_url)
    with pg_engine.connect() as idle:
        idle.execute(sa.text("SELECT pg_current_xact_id()"))  # an id older than the events'
        populated(pg_engine)
        report = verify_log(pg_engine)
        assert report.ok and (report.events, report.streams, report.held_back) == (0, 0, 5)
        assert report.head_position is None
        assert report.digest == hashlib.sha256(b"").hexdigest()
        said = subprocess.run([CLI, "audit", "verify"], env=cli_env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert said.returncode == 0 and "ok: 0 events" in said.stdout, said
        assert "and 5 newer events verify, held back" in said.stdout, said.stdout
        with triggers_bypassed(pg_engine) as conn:
            row = conn.execute(sa.select(events).where(events.c.position == 2)).one()
            conn.execute(events.update().where(events.c.position == 2)
                         .values(data=_one_byte(bytes(row.data))))  # fmt: skip
        report = verify_log(pg_engine)
        assert not report.ok and report.held_back == 5
        assert report.first_mismatch is not None and report.first_mismatch.position == 2
        said = subprocess.run([CLI, "audit", "verify", "--json"], env=cli_env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert said.returncode == 1 and json.loads(said.stdout)["held_back"] == 5, said
        idle.rollback()
    report = verify_log(pg_engine)  # the idle transaction ended: all five are released
    assert (report.events, report.streams, report.held_back) == (5, 4, 0)
    assert report.first_mismatch is not None and report.first_mismatch.position == 2


def _one_byte(data: bytes) -> bytes:
    changed = data.replace(b'"interval":"1d"', b'"interval":"1h"', 1)
    assert changed != data and len(changed) == len(data)
    return changed


TAMPERINGS: dict[str, tuple[str, Any]] = {
    "one-byte-of-data": ("data", lambda row: _one_byte(bytes(row.data))),
    "metadata": ("metadata", lambda row: bytes(row.metadata).replace(b"actor", b"actoR")),
    "recorded_at": ("recorded_at", lambda row: row.recorded_at + dt.timedelta(seconds=1)),
    "hash": ("hash", lambda row: "0" * 64),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_editing_one_event_behind_the_triggers_is_caught(engine: sa.Engine, tampering: str) -> None:
    populated(engine)
    column, change = TAMPERINGS[tampering]
    with triggers_bypassed(engine) as conn:
        row = conn.execute(sa.select(events).where(events.c.position == 2)).one()
        conn.execute(events.update().where(events.c.position == 2).values({column: change(row)}))
    report = verify_log(engine)
    assert not report.ok
    assert report.first_mismatch is not None
    assert report.first_mismatch.position == 2
    assert report.first_mismatch.stream_id == row.stream_id


def test_a_removed_event_breaks_its_stream(engine: sa.Engine) -> None:
    ids = populated(engine)
    with triggers_bypassed(engine) as conn:
        conn.execute(sa.text("DELETE FROM events WHERE stream_id = :s AND stream_version = 1"),
                     {"s": ids[1]})  # fmt: skip
    report = verify_log(engine)
    assert report.first_mismatch is not None
    assert (report.first_mismatch.stream_id, report.first_mismatch.stream_version) == (ids[1], 2)


def exported(engine: sa.Engine) -> bytes:
    sink = io.BytesIO()
    log_file.write_file(export_log(engine), sink)
    return sink.getvalue()


@pytest.mark.feed
def test_an_exported_log_verifies_alone_and_catches_an_edited_byte(engine: sa.Engine) -> None:
    populated(engine)
    raw = exported(engine)
    assert raw.count(b"\n") == 5
    offline = verify_chain(log_file.read_lines(io.BytesIO(raw)))
    assert offline.ok and offline.digest == verify_log(engine).digest
    with engine.connect() as conn:
        stored = bytes(conn.execute(sa.text("SELECT data FROM events WHERE position = 3")).scalar())
    assert stored in raw  # the exact stored bytes, embedded verbatim
    forged = raw.replace(
        stored, stored.replace(b'"strategy":"sma_cross"', b'"strategy":"sma_crosx"')
    )
    assert forged != raw
    report = verify_chain(log_file.read_lines(io.BytesIO(forged)))
    assert report.first_mismatch is not None and report.first_mismatch.position == 3


def read_models(engine: sa.Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {
            t.name: [
                tuple(as_utc(v) if isinstance(v, dt.datetime) else v for v in row)
                for row in conn.execute(sa.select(t).order_by(*t.primary_key))
            ]
            for t in LIVE.tables()
        }


@pytest.mark.feed
def test_replaying_an_export_into_an_empty_database_gives_the_same_read_models(
    engine: sa.Engine, another_engine: sa.Engine, tmp_path: Path
) -> None:
    populated(engine)
    path = tmp_path / "log.ndjson"
    path.write_bytes(exported(engine))
    replica = another_engine
    assert rebuild_from_log(replica, log_file.read_file(path)).replayed == 5
    assert read_models(replica) == read_models(engine)
    assert verify(replica).ok
    assert verify_log(replica).digest == verify_log(engine).digest
    with pytest.raises(LogNotEmpty):
        rebuild_from_log(replica, log_file.read_file(path))
    more = record(replica, make_user(replica, "zed"), backtest_document(seed=3))
    assert more.position == 6  # the replica's sequence carries on after the imported log
