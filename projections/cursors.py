"""The page cursors the service hands out, sealed so that only those come back.

A cursor is where a page ended (its values as JSON, base64) followed by an HMAC-SHA256
tag of them. A cursor whose tag does not match was not handed out by a process that
shares this key: it is refused (``BadCursor``, a 400) before any of its values reach a
query, so no forged value (an integer past 64 bits, a NUL, a date before year 1) can
reach a store as a bound parameter. The values a sealed cursor holds are type-checked
still, by those who open it.

The key is the service's own (``use_key``, from the settings, at start-up, so that
every node and worker of one deployment shares it); a process that was never given
one (a test, a script) seals with a random key of its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Any

import msgspec

TAG_BYTES = 16  # 128 bits of HMAC-SHA256: forging one is 2^128 guesses
_key = secrets.token_bytes(32)


class BadCursor(ValueError):
    """A page cursor that this service did not hand out."""


def use_key(key: bytes) -> None:
    """Seal and open cursors with this key from now on (the service's, at start-up)."""
    global _key
    _key = hashlib.sha256(b"cursor:" + key).digest()


def seal(values: list[Any]) -> str:
    raw = msgspec.json.encode(values)
    return _b64(raw) + "." + _b64(_tag(raw))


def unseal(cursor: str) -> Any:
    """The values a cursor sealed, or ``BadCursor`` for one this service did not seal."""
    body, _, tag = cursor.partition(".")
    try:
        raw, given = _unb64(body), _unb64(tag)
    except (binascii.Error, ValueError) as exc:
        raise BadCursor("cursor is not one this service issued") from exc
    if not hmac.compare_digest(given, _tag(raw)):
        raise BadCursor("cursor is not one this service issued")
    return msgspec.json.decode(raw)


def _tag(raw: bytes) -> bytes:
    return hmac.new(_key, raw, hashlib.sha256).digest()[:TAG_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
