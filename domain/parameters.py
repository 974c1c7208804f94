"""A backtest's parameters as dotted paths, and the limits that keep them usable.

Sweep exports and pages show one ``param.<dotted path>`` column per parameter, and a
``where`` reaches a parameter by the same path. So two parameters must never flatten
to one path (``{"a.b": 3, "a": {"b": 4}}`` would be one column holding 4, the 3
lost), and a backtest may hold at most ``MAX_LEAF_PARAMETERS`` of them: a sweep of
wide backtests is as many columns as their distinct paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from domain.errors import FieldError
from domain.sanitize import pointer_token

MAX_LEAF_PARAMETERS = 1000


def flatten(parameters: dict[str, Any]) -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` → ``{"a.b": 1, "c": [1, 2]}``: nested objects
    become dotted paths; an empty object stays a value."""
    flat: dict[str, Any] = {}
    _flatten_into(parameters, "", flat)
    return flat


def _flatten_into(node: dict[str, Any], prefix: str, flat: dict[str, Any]) -> None:
    # ``_leaves`` without the JSON pointers: exports flatten every row of a sweep, and
    # the pointers were two thirds of the time
    for key, value in node.items():
        if isinstance(value, dict) and value:
            _flatten_into(value, f"{prefix}{key}.", flat)
        else:
            flat[prefix + key] = value


def parameter_errors(parameters: dict[str, Any]) -> list[FieldError]:
    """The first two parameters that flatten to one path, or too many parameters."""
    seen: dict[str, str] = {}
    for path, pointer, _ in _leaves(parameters, "", "/parameters"):
        if path in seen:
            return [FieldError(pointer, f"flattens to the parameter path {path!r}, as "
                               f"{seen[path]} does: name them apart")]  # fmt: skip
        seen[path] = pointer
        if len(seen) > MAX_LEAF_PARAMETERS:
            return [FieldError("/parameters", f"more than {MAX_LEAF_PARAMETERS} parameters "
                               "(leaves of nested objects count one each)")]  # fmt: skip
    return []


def _leaves(node: dict[str, Any], prefix: str, pointer: str) -> Iterator[tuple[str, str, Any]]:
    """Each leaf's dotted path, JSON pointer and value."""
    for key, value in node.items():
        path, at = f"{prefix}{key}", f"{pointer}/{pointer_token(key)}"
        if isinstance(value, dict) and value:
            yield from _leaves(value, path + ".", at)
        else:
            yield path, at, value
