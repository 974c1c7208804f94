"""The failed-authentication throttle counts per address in a one-minute window and
remembers a bounded number of addresses and keys."""

from __future__ import annotations

from api.throttle import FailureThrottle, KnownKeys


def test_an_address_is_held_back_after_the_limit_until_its_minute_is_over() -> None:
    now = [1000.0]
    throttle = FailureThrottle(limit=3, clock=lambda: now[0])
    for _ in range(2):
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") is None  # two wrong keys: still allowed
    throttle.failed("10.0.0.1")
    now[0] += 20
    assert throttle.retry_after("10.0.0.1") == 40  # the third: held back, 40 s to go
    assert throttle.retry_after("10.0.0.2") is None  # another address is not
    now[0] += 41
    assert throttle.retry_after("10.0.0.1") is None
    throttle.failed("10.0.0.1")  # a new window begins
    assert throttle.retry_after("10.0.0.1") is None


def test_twenty_thousand_addresses_and_keys_fit_in_a_bounded_memory() -> None:
    throttle, keys = FailureThrottle(limit=5, capacity=1000), KnownKeys(capacity=1000)
    for n in range(20_000):
        throttle.failed(f"addr-{n}")
        keys.add(f"hash-{n}")
    assert len(throttle) == len(keys) == 1000
    assert "hash-19999" in keys and "hash-0" not in keys  # the oldest were forgotten


def test_a_limit_of_zero_turns_the_throttle_off() -> None:
    throttle = FailureThrottle(limit=0)
    for _ in range(100):
        throttle.failed("a")
    assert throttle.retry_after("a") is None and len(throttle) == 0
