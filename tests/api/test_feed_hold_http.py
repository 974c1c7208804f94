"""``/health`` tells an auditor how far the event feed is held back, and by what: a
transaction left open on another database of the same server delays the feed (never
makes it skip). On a cluster of the test's own, so that no other work is open."""

from __future__ import annotations

import psycopg
import pytest

from tests.api.conftest import Api
from tests.postgres_server import libpq_dsn


@pytest.mark.feed
def test_an_auditor_sees_the_feed_held_back_by_a_transaction_on_another_database(
    api: Api, database_url: str, request: pytest.FixtureRequest
) -> None:
    if database_url.startswith("sqlite"):
        api.record()
        feed = api.get("/health", who="carol").json()["feed"]
        assert feed == {"held_back_events": 0, "oldest_transaction_seconds": None,
                        "oldest_transaction_database": None}  # fmt: skip
        return
    server = libpq_dsn(request.getfixturevalue("private_postgres_url"))
    with psycopg.connect(server.rsplit("/", 1)[0] + "/postgres") as other:
        other.execute("SELECT pg_current_xact_id()")  # a transaction with an id, left open
        api.record()
        api.record()
        feed = api.get("/health", who="carol").json()["feed"]
        assert feed["held_back_events"] == 2
        assert feed["oldest_transaction_database"] == "postgres"
        assert feed["oldest_transaction_seconds"] >= 0
        assert api.get("/api/v1/events", who="carol").json()["events"] == []
        other.rollback()
    feed = api.get("/health", who="carol").json()["feed"]
    assert feed["held_back_events"] == 0 and feed["oldest_transaction_seconds"] is None
    assert len(api.get("/api/v1/events", who="carol").json()["events"]) == 2


def test_health_shows_the_feed_to_auditors_only(api: Api) -> None:
    assert "feed" not in api.client.get("/health").json()
    assert "feed" not in api.get("/health", who="alice").json()
    assert "feed" not in api.get("/health", who="dave").json()
    wrong = api.client.get("/health", headers={"Authorization": "Bearer btl_wrong"})
    assert wrong.status_code == 200 and "feed" not in wrong.json()
    assert "feed" in api.get("/health", who="carol").json()
