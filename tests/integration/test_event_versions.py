"""An event stored under an older schema version is upcast on read: it replays,
verifies and exports exactly like its current-version twin (both stores)."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import msgspec
import pytest
import sqlalchemy as sa
from msgspec import UNSET

from domain.events import SCHEMA_VERSIONS, BacktestRecorded, EventMetadata, encode_metadata
from infrastructure import log_file
from infrastructure.audit import export_log, verify_log
from infrastructure.database import write_transaction
from infrastructure.event_store import StoredEvent, load_stream
from infrastructure.hash_chain import GENESIS, event_hash
from infrastructure.tables import events
from projections import queries
from projections.documents import stream_document
from projections.rebuild import rebuild, verify
from tests.factories import backtest_document, make_user, record


def store_v1(engine: sa.Engine, owner_id: str, v2_doc: dict[str, object]) -> str:
    """Write a BacktestRecorded as a version-1 client did: no periods_per_year, and
    trade sides called buy/sell."""
    submission = dict(v2_doc)
    submission.pop("periods_per_year")
    submission["trades"] = [
        dict(t, side={"long": "buy", "short": "sell"}[t["side"]])  # type: ignore[index]
        for t in v2_doc["trades"]  # type: ignore[attr-defined]
    ]
    return store_old(engine, owner_id, submission, 1)


def store_old(engine: sa.Engine, owner_id: str, submission: dict[str, object], version: int) -> str:
    """Write a BacktestRecorded as stored under an older schema ``version``."""
    backtest_id = str(uuid.uuid4())
    data = msgspec.json.encode({"type": "BacktestRecorded", "backtest_id": backtest_id,
                                "owner_id": owner_id, "submission": submission})  # fmt: skip
    unsealed = StoredEvent(
        position=0, event_id=str(uuid.uuid4()), stream_id=backtest_id, stream_version=1,
        event_type="BacktestRecorded", schema_version=version, data=data,
        metadata=encode_metadata(EventMetadata(actor_id=owner_id)),
        recorded_at=dt.datetime.now(dt.UTC), hash="",
    )  # fmt: skip
    row = {k: getattr(unsealed, k) for k in (
        "event_id", "stream_id", "stream_version", "event_type", "schema_version", "data",
        "metadata", "recorded_at")}  # fmt: skip
    with write_transaction(engine) as conn:
        conn.execute(events.insert().values(**row, hash=event_hash(GENESIS, unsealed)))
    return backtest_id


@pytest.mark.feed
def test_a_version_1_event_replays_verifies_and_exports_like_version_2(
    engine: sa.Engine,
) -> None:
    assert SCHEMA_VERSIONS["BacktestRecorded"] == 5
    alice = make_user(engine)
    doc = backtest_document(days=40, trades=6)
    doc["periods_per_year"] = 252
    current = record(engine, alice, doc).backtest_id
    old = store_v1(engine, alice.user_id, doc)

    rebuild(engine)
    assert verify(engine).ok
    assert verify_log(engine).ok

    with engine.connect() as conn:
        [stored] = load_stream(conn, old)
        upcast = stored.event()
        twin = queries.get_detail(conn, current, alice.user_id)
        detail = queries.get_detail(conn, old, alice.user_id)
    assert stored.schema_version == 1 and b"periods_per_year" not in stored.data
    assert isinstance(upcast, BacktestRecorded)
    assert upcast.submission.periods_per_year == 252
    assert [t.side for t in upcast.submission.trades] == [t["side"] for t in doc["trades"]]
    assert detail.metrics == twin.metrics and detail.periods_per_year == 252
    for kind in ("daily", "monthly", "trades"):
        assert b"".join(stream_document(engine, old, kind)) == b"".join(  # type: ignore[arg-type]
            stream_document(engine, current, kind)  # type: ignore[arg-type]
        )

    sink = io.BytesIO()
    log_file.write_file(export_log(engine), sink)
    assert b'"schema_version":1' in sink.getvalue() and stored.data in sink.getvalue()


def test_a_version_2_event_reads_as_a_backtest_without_an_experiment(engine: sa.Engine) -> None:
    alice = make_user(engine)
    doc = backtest_document(days=30, trades=2)
    current = dict(doc, experiment="grid")
    twin = record(engine, alice, current).backtest_id
    old = store_old(engine, alice.user_id, doc, 2)
    rebuild(engine)
    assert verify(engine).ok and verify_log(engine).ok
    with engine.connect() as conn:
        [stored] = load_stream(conn, old)
        upcast = stored.event()
        detail = queries.get_detail(conn, old, alice.user_id)
        grid = queries.get_detail(conn, twin, alice.user_id)
    assert isinstance(upcast, BacktestRecorded)
    assert upcast.submission.experiment_name is None and detail.experiment is None
    assert grid.experiment == "grid" and detail.metrics == grid.metrics
    listed = b"".join(stream_document(engine, old, "detail"))
    assert listed.endswith(b',"experiment":null,"provenance":null}')


def test_a_version_4_event_reads_as_a_backtest_without_a_provenance(engine: sa.Engine) -> None:
    """v5 added the optional provenance: a v4 event, which never had one, replays,
    verifies and reads with ``provenance: null``, its figures those of its v5 twin."""
    alice = make_user(engine)
    doc = backtest_document(days=30, trades=2)
    given = {"code": {"commit": "e" * 40}, "data": {"rows": 30}}
    twin = record(engine, alice, dict(doc, provenance=given)).backtest_id
    old = store_old(engine, alice.user_id, doc, 4)
    rebuild(engine)
    assert verify(engine).ok and verify_log(engine).ok
    with engine.connect() as conn:
        [stored] = load_stream(conn, old)
        upcast = stored.event()
        detail = queries.get_detail(conn, old, alice.user_id)
        recorded = queries.get_detail(conn, twin, alice.user_id)
    assert isinstance(upcast, BacktestRecorded)
    assert upcast.submission.provenance is UNSET and detail.provenance is None
    assert msgspec.to_builtins(recorded.provenance) == given
    assert detail.metrics == recorded.metrics
