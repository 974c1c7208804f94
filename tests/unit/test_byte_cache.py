"""The cache of rendered answers keeps at most its bytes, least recently used out first, each value
with its tag, and never keeps a value so large it would push out everything else."""

from __future__ import annotations

from infrastructure.byte_cache import ByteCache


def test_it_is_bounded_in_bytes_and_evicts_the_least_recently_used() -> None:
    cache = ByteCache(100)
    cache.put("a", "t", b"x" * 20)
    cache.put("b", "t", b"y" * 20)
    cache.put("c", "t", b"z" * 20)
    assert cache.get("a") == ("t", b"x" * 20)  # now the most recently used
    cache.put("d", "t", b"w" * 25)
    cache.put("e", "t", b"v" * 25)  # 110 bytes: the least recently used, b, goes
    assert cache.get("b") is None and cache.held == 90 and len(cache) == 4
    assert cache.get("a") is not None and cache.get("c") is not None
    cache.put("a", "u", b"x" * 5)  # replaced: its old bytes no longer count
    assert cache.held == 75 and cache.get("a") == ("u", b"x" * 5)
    cache.put("huge", "t", b"h" * 26)  # over a quarter of the capacity: not kept
    assert cache.get("huge") is None and cache.held == 75
    assert (cache.hits, cache.misses) == (4, 2)


def test_a_cache_of_no_bytes_keeps_nothing() -> None:
    cache = ByteCache(0)
    cache.put("a", "t", b"x")
    assert cache.get("a") is None and cache.held == 0


def test_a_stream_is_kept_once_all_of_it_is_sent_and_only_if_it_fits() -> None:
    cache = ByteCache(100)
    parts = [b"ab", b"cd", b"ef"]
    assert list(cache.kept_as_sent("fits", "t", iter(parts))) == parts
    assert cache.get("fits") == ("t", b"abcdef")
    wide = [b"x" * 10, b"y" * 10, b"z" * 10]  # 30 bytes: over a quarter of 100
    assert list(cache.kept_as_sent("wide", "t", iter(wide))) == wide
    assert cache.get("wide") is None
    cut = cache.kept_as_sent("cut", "t", iter(parts))
    assert next(cut) == b"ab"
    cut.close()  # the client went away: half an answer is never kept
    assert cache.get("cut") is None and cache.held == 6


def test_a_stream_past_what_a_stream_may_hold_is_not_kept_however_large_the_cache() -> None:
    cache = ByteCache(2**30)  # a quarter is far more than a stream may hold
    part = b"x" * 2**20
    sent = cache.kept_as_sent("big", "t", iter([part, part, part]))
    assert next(sent) == part and next(sent) == part
    assert next(sent) == part  # past 2 MB (STREAM_KEPT_BYTES), far under a quarter
    assert list(sent) == [] and cache.get("big") is None and cache.held == 0
