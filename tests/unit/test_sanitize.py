from __future__ import annotations

import math

import pytest

from domain.errors import FieldError
from domain.sanitize import sanitize


def test_non_finite_numbers_become_null_and_are_named_by_json_pointer() -> None:
    doc = {"a": [1.0, math.nan, {"b/c": math.inf, "d~e": -math.inf}], "f": 2}
    clean, pointers = sanitize(doc)
    assert clean == {"a": [1.0, None, {"b/c": None, "d~e": None}], "f": 2}
    assert pointers == ["/a/1", "/a/2/b~1c", "/a/2/d~0e"]


def test_finite_values_are_kept_exactly_and_zero_is_not_invented() -> None:
    clean, pointers = sanitize({"x": 0.1, "y": -0.0, "z": None, "t": True})
    assert clean == {"x": 0.1, "y": -0.0, "z": None, "t": True}
    assert pointers == []


def test_nul_characters_are_refused_with_their_pointer() -> None:
    with pytest.raises(FieldError) as caught:
        sanitize({"parameters": {"name": "a\x00b"}})
    assert caught.value.pointer == "/parameters/name"


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(100):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    with pytest.raises(FieldError, match="nested deeper"):
        sanitize(deep)


def test_integers_beyond_64_bits_are_refused() -> None:
    with pytest.raises(FieldError) as caught:
        sanitize({"n": [2**70]})
    assert caught.value.pointer == "/n/0"
