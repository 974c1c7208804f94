"""Guessing keys: failed authentications counted per client address, in bounded memory.

An address that presents more than ``limit`` wrong API keys (to the API or the sign-in
page) within a minute — on this process, or on all the service's nodes together
(``SharedWindows``) — gets 429 for any key until the minute is over: the rate limiter
counts per presented key, so every new guess used to start afresh. At most
``capacity`` addresses are remembered (the least recently seen is forgotten first), and
only keys that have authenticated are remembered by hash for the rate limiter, so a
flood of made-up keys grows neither.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from infrastructure.rate_windows import SharedWindows

CAPACITY = 10_000
SCOPE = "auth-failures"


class FailureThrottle:
    """Failed authentications per address over a sliding one-minute window."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedWindows | None = None,
    ) -> None:
        """``shared``: the other nodes' counts too (their minute is the clock's, this
        process's own a sliding one)."""
        self.limit, self.window_s, self.capacity, self.clock = limit, window_s, capacity, clock
        self.shared = shared
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None while it may."""
        if self.limit <= 0:
            return None
        local = self._local_retry_after(address)
        shared = self.shared
        if local is None and shared is not None and shared.count(SCOPE, address) >= self.limit:
            return shared.seconds_left()
        return local

    def _local_retry_after(self, address: str) -> int | None:
        with self._lock:
            entry = self._failures.get(address)
            if entry is None:
                return None
            began, count = entry
            left = began + self.window_s - self.clock()
            if left <= 0:
                del self._failures[address]
                return None
            return max(1, round(left)) if count >= self.limit else None

    def failed(self, address: str) -> None:
        """Count one wrong key from ``address``."""
        if self.limit <= 0:
            return
        if self.shared is not None:
            self.shared.hit(SCOPE, address)
        with self._lock:
            now = self.clock()
            began, count = self._failures.pop(address, (now, 0))
            if now - began >= self.window_s:
                began, count = now, 0
            self._failures[address] = (began, count + 1)
            while len(self._failures) > self.capacity:
                self._failures.popitem(last=False)


class KnownKeys:
    """The hashes of keys that authenticated lately (at most ``capacity``)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._hashes: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key_hash: object) -> bool:
        return key_hash in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def add(self, key_hash: str) -> None:
        with self._lock:
            self._hashes[key_hash] = None
            self._hashes.move_to_end(key_hash)
            while len(self._hashes) > self.capacity:
                self._hashes.popitem(last=False)
