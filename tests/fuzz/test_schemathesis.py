"""Schemathesis against the served OpenAPI schema, authenticated: no 5xx, and every
response conforms to the schema (a bounded number of examples per operation)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from infrastructure.database import create_engine, write_transaction
from infrastructure.migrate import upgrade
from infrastructure.settings import Settings
from infrastructure.users import Role, create_user
from tests.factories import backtest_document, record


def _app_with_data() -> tuple[Any, dict[str, str]]:
    # Schemathesis reads the schema when the module is collected, so the app (on a
    # throwaway SQLite file) is built here rather than in a fixture.
    root = Path(tempfile.mkdtemp(prefix="btl-fuzz-"))
    url = f"sqlite:///{root / 'ledger.sqlite3'}"
    engine = create_engine(url)
    upgrade(engine)
    with write_transaction(engine) as conn:
        alice, user_key = create_user(conn, "alice", Role.USER)
        _, auditor_key = create_user(conn, "carol", Role.AUDITOR)
    record(engine, alice, backtest_document(days=30))
    engine.dispose()
    # no analysis worker: an analysis queued here is checked as an answer, not run
    app = create_app(Settings(database_url=url, state_dir=str(root), rate_limit_per_minute=0,
                              max_body_bytes=1024 * 1024, analysis_workers=0))  # fmt: skip
    return app, {"user": user_key, "auditor": auditor_key}


# What the issue asks of every response: no 5xx, and conformance to the document
# (status code, content type, headers, body). Schemathesis' stricter default checks
# also expect every schema-valid request to succeed, which business rules refuse.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
APP, KEYS = _app_with_data()
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", APP)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case: Any) -> None:
    for role in ("user", "auditor"):
        case.call_and_validate(headers={"Authorization": f"Bearer {KEYS[role]}"}, checks=CHECKS)
