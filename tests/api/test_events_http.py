"""The event feed and idempotent recording over HTTP."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.api.conftest import Api
from tests.factories import backtest_document


@pytest.mark.feed
def test_the_feed_pages_in_order_with_the_exact_stored_bytes(api: Api) -> None:
    ids = [api.record(document=backtest_document(seed=i)).json()["backtest_id"] for i in range(5)]
    page = api.get("/api/v1/events", who="carol", limit=2).json()
    assert [e["stream_id"] for e in page["events"]] == ids[:2]
    rest = api.get("/api/v1/events", who="carol", after=page["next_after"]).json()
    assert [e["stream_id"] for e in rest["events"]] == ids[2:]
    empty = api.get("/api/v1/events", who="carol", after=rest["next_after"]).json()
    assert empty == {"events": [], "next_after": rest["next_after"]}
    with api.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT data FROM events ORDER BY position")).scalars().all()
    raw = api.get("/api/v1/events", who="carol").content
    for data in stored:
        assert bytes(data) in raw  # embedded verbatim, not re-encoded
    first = page["events"][0]
    assert first["data"] == json.loads(bytes(stored[0]))
    assert first["metadata"]["actor_id"] and len(first["hash"]) == 64


def test_a_feed_cursor_at_no_event_is_400(api: Api) -> None:
    api.record()
    response = api.get("/api/v1/events", who="carol", after=999)
    assert response.status_code == 400
    assert "position 999" in response.json()["detail"]


def test_repeating_a_post_with_its_idempotency_key_replays_the_answer(api: Api) -> None:
    doc = backtest_document()
    first = api.record(document=doc, **{"Idempotency-Key": "k-1"})
    again = api.record(document=doc, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert api.event_count() == 1
    other = api.record(document=backtest_document(seed=99), **{"Idempotency-Key": "k-1"})
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert api.event_count() == 1
    # keys belong to their user: bob may use the same one
    assert api.record("bob", document=doc, **{"Idempotency-Key": "k-1"}).status_code == 201
    assert api.event_count() == 2
    history = api.get(f"/api/v1/backtests/{first.json()['backtest_id']}/history").json()
    assert history["events"][0]["metadata"]["idempotency_key"] == "k-1"
