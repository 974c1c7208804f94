"""A bounded cache of bytes in one process: least recently used out first, bounded by
the bytes it holds rather than by a count. Each entry is kept with its tag (for a
backtest's detail or CSV, the ETag of its stream version): a reader that finds an
entry uses it only if the tag is the one it has just read, so an entry is never
served stale.
Thread-safe: the sync handlers that read it run on many threads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator

# What a streamed answer holds beside what it sends, to keep it once sent: ten years of
# days are a 440 KB detail and a 180 KB daily CSV; a million rows stream on in flat
# memory, as every download did before answers were kept.
STREAM_KEPT_BYTES = 2 * 2**20


class ByteCache:
    """At most ``capacity`` bytes of values; a value larger than a quarter of it is not
    kept (one huge document would push out everything else)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, tuple[str, bytes]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> tuple[str, bytes] | None:
        """The tag and bytes kept for ``key``."""
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, tag: str, value: bytes) -> None:
        """Keep ``value`` for ``key`` with its ``tag``, in place of any earlier one."""
        if len(value) > self.capacity // 4:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._held -= len(old[1])
            self._entries[key] = (tag, value)
            self._held += len(value)
            while self._held > self.capacity:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._held -= len(evicted)

    def kept_as_sent(self, key: Hashable, tag: str, parts: Iterable[bytes]) -> Iterator[bytes]:
        """``parts`` as they are sent, kept with ``tag`` once all are sent if together
        they are at most ``STREAM_KEPT_BYTES`` (and fit the cache). A larger answer lets
        go of what it held and streams on in flat memory; a stream cut short keeps
        nothing."""
        most, held, kept = min(STREAM_KEPT_BYTES, self.capacity // 4), 0, []
        for part in parts:
            held += len(part)
            if held <= most:
                kept.append(part)
            else:
                kept.clear()
            yield part
        if held <= most:
            self.put(key, tag, b"".join(kept))

    @property
    def held(self) -> int:
        """The bytes held now."""
        return self._held

    def __len__(self) -> int:
        return len(self._entries)
