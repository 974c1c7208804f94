"""What the client has read, kept to be revalidated: a GET answered with an ``ETag`` is
kept (up to a bound in bytes, least recently used out first), and asking again sends
``If-None-Match``; a 304 then costs the ledger no read of the series and the network no
body, and the kept answer is given back as it was."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import httpx

Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Kept:
    tag: str
    status: int
    headers: httpx.Headers
    content: bytes


class Revalidation:
    """At most ``capacity`` bytes of answers; one larger than a quarter of it is not
    kept. ``capacity`` 0 keeps nothing."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._kept: OrderedDict[Key, Kept] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        self.revalidated = 0  # answers given back after a 304

    @staticmethod
    def key(path: str, params: dict[str, object]) -> Key:
        return path, tuple(sorted((name, str(value)) for name, value in params.items()))

    def conditions(self, key: Key) -> dict[str, str]:
        """The headers that ask the ledger whether the kept answer still holds."""
        with self._lock:
            kept = self._kept.get(key)
        return {} if kept is None else {"If-None-Match": kept.tag}

    def answer(self, key: Key, response: httpx.Response) -> httpx.Response:
        """The answer to give: the kept one for a 304, else the response (kept if it
        carries a tag)."""
        if response.status_code == 304:
            with self._lock:
                kept = self._kept.get(key)
                if kept is not None:
                    self._kept.move_to_end(key)
                    self.revalidated += 1
            if kept is None:  # forgotten meanwhile (another thread's answer evicted it)
                return response
            return httpx.Response(kept.status, headers=kept.headers, content=kept.content,
                                  request=response.request)  # fmt: skip
        tag = response.headers.get("etag")
        if tag and len(response.content) <= self.capacity // 4:
            self._keep(key, Kept(tag, response.status_code, response.headers, response.content))
        return response

    def _keep(self, key: Key, kept: Kept) -> None:
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._held -= len(old.content)
            self._kept[key] = kept
            self._held += len(kept.content)
            while self._held > self.capacity:
                _, gone = self._kept.popitem(last=False)
                self._held -= len(gone.content)
