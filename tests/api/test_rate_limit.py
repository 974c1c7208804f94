"""Per-key request limits (429 problem with Retry-After, counted per key) and the
throttle of wrong keys per address."""

from __future__ import annotations

from litestar.testing import TestClient

from api.app import create_app
from infrastructure.settings import Settings
from tests.api.conftest import Api, clear_of_a_new_minute


def test_each_key_gets_its_own_budget_then_429_with_retry_after(
    api: Api, database_url: str
) -> None:
    app = create_app(Settings(database_url=database_url, rate_limit_per_minute=5))
    with TestClient(app=app) as client:
        alice = {"Authorization": f"Bearer {api.keys['alice']}"}
        clear_of_a_new_minute(5)
        # the first request counts against the address: a key is counted by its hash
        # only once it has authenticated (made-up keys must not each get a budget)
        statuses = [client.get("/api/v1/backtests", headers=alice).status_code for _ in range(8)]
        assert statuses == [200] * 6 + [429] * 2
        limited = client.get("/api/v1/backtests", headers=alice)
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert int(limited.headers["retry-after"]) > 0
        bob = {"Authorization": f"Bearer {api.keys['bob']}"}
        assert client.get("/api/v1/backtests", headers=bob).status_code == 200
        assert client.get("/health").status_code == 200


def test_wrong_keys_from_one_address_are_held_back_for_any_key(api: Api) -> None:
    from tests.api.test_pages_http import form_token

    limit = api.client.app.state.settings.auth_failures_per_minute
    for n in range(limit):
        bad = api.client.get("/api/v1/whoami", headers={"Authorization": f"Bearer btl_guess{n}"})
        assert bad.status_code == 401, n
    held = api.get("/api/v1/whoami")  # the right key, from the same address
    assert held.status_code == 429 and int(held.headers["retry-after"]) > 0
    assert held.headers["content-type"].startswith("application/problem+json")
    token = form_token(api, "/signin")
    signin = api.client.post("/signin", data={"api_key": api.keys["alice"],
                                              "_csrf_token": token})  # fmt: skip
    assert signin.status_code == 429 and "Too many wrong keys" in signin.text


def test_made_up_keys_count_against_their_address_not_as_new_keys(api: Api) -> None:
    from api.auth import KNOWN_KEYS, rate_limit_identity

    class Fake:
        def __init__(self, key: str) -> None:
            self.headers = {"authorization": f"Bearer {key}"}
            self.client = type("Client", (), {"host": "203.0.113.7"})()

    assert rate_limit_identity(Fake("btl_made_up")) == "addr:203.0.113.7"  # type: ignore[arg-type]
    assert api.get("/api/v1/whoami").status_code == 200  # alice's key authenticates
    assert rate_limit_identity(Fake(api.keys["alice"])).startswith("key:")  # type: ignore[arg-type]
    assert len(KNOWN_KEYS) <= KNOWN_KEYS.capacity
