"""Non-finite sanitising: NaN and ±Infinity become null, and we remember where.

Python clients send ``NaN``/``Infinity`` tokens (``json.dumps`` writes them). Storing
0.0 would invent a value, so every non-finite number becomes ``None`` and its RFC 6901
JSON pointer is returned, to be kept in the event metadata.
"""

from __future__ import annotations

import math
import re
from typing import Any

from domain.errors import FieldError

MAX_DEPTH = 64
# JSON's \ud800-style escapes can spell half a character, which no UTF-8 text (and so
# no store) can keep; Python's json module decodes them anyway.
_SURROGATE = re.compile("[\ud800-\udfff]")
LONE_SURROGATE = "not valid Unicode: a lone surrogate (half of a character)"
INT64_MIN, INT64_MAX = -(2**63), 2**64 - 1


def pointer_token(key: str | int) -> str:
    """One reference token of a JSON pointer, escaped as RFC 6901 requires."""
    return str(key).replace("~", "~0").replace("/", "~1")


def sanitize(document: Any, pointer: str = "") -> tuple[Any, list[str]]:
    """Return the document with non-finite floats as None, and their JSON pointers.

    Also refuses what no store can keep faithfully: NUL characters and lone surrogates
    in strings or keys, integers beyond 64 bits, and nesting deeper than ``MAX_DEPTH``.
    """
    sanitized: list[str] = []
    return _walk(document, pointer, 0, sanitized), sanitized


def _walk(value: Any, pointer: str, depth: int, sanitized: list[str]) -> Any:
    if depth > MAX_DEPTH:
        raise FieldError(pointer, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        sanitized.append(pointer)
        return None
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise FieldError(pointer, "integer out of the 64-bit range")
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise FieldError(pointer, "NUL characters are not allowed")
        if _SURROGATE.search(value):
            raise FieldError(pointer, LONE_SURROGATE)
        return value
    if isinstance(value, list):
        return [
            _walk(item, f"{pointer}/{index}", depth + 1, sanitized)
            for index, item in enumerate(value)
        ]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{pointer}/{pointer_token(key)}"
            if "\x00" in key:
                raise FieldError(child, "NUL characters are not allowed in keys")
            if _SURROGATE.search(key):  # named with the half escaped, as JSON wrote it
                shown = key.encode("utf-8", "backslashreplace").decode()
                raise FieldError(f"{pointer}/{pointer_token(shown)}", LONE_SURROGATE)
            out[key] = _walk(item, child, depth + 1, sanitized)
        return out
    raise FieldError(pointer, f"unsupported JSON value of type {type(value).__name__}")
