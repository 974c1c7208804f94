"""The stored form of a backtest's daily results, months and trades
(``backtest_series``): each kind's columns, ``PART_ROWS`` rows to a part, as typed
binary columns compressed with zlib.

One row per day cost PostgreSQL ≈230 bytes (a tuple header, the backtest id twice
with its index entry, eight columns); a part stores a day's equity in ≈6 bytes and
its date in well under one. Numbers are float64 with NaN for null (a stored number is
never NaN: non-finite inputs became null when recorded); dates, months and instants
are whole numbers, stored as differences from the row before (a run of equal steps
compresses to nothing); a float column's bytes are regrouped by significance before
compressing (signs and exponents repeat, the low mantissa bytes do not).
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import msgspec
import numpy as np

SeriesKind = Literal["daily", "monthly", "trades"]
Codec = Literal["float", "date", "month", "instant", "side"]
PART_ROWS = 50_000
LEVEL = 6

# Each kind's stored columns and how each is stored; a part holds those of them that
# the backtest has (daily: its key, date or time, and the optional ones any day has).
CODECS: dict[SeriesKind, dict[str, Codec]] = {
    "daily": {"date": "date", "time": "instant", "equity": "float", "return": "float",
              "cash": "float", "position": "float", "benchmark_return": "float"},
    "monthly": {"month": "month", "return": "float", "start_equity": "float",
                "end_equity": "float"},
    "trades": {"side": "side", "entry_time": "instant", "exit_time": "instant",
               "entry_price": "float", "exit_price": "float", "quantity": "float",
               "pnl": "float", "return": "float", "fees": "float"},
}  # fmt: skip

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SIDES = ("long", "short")
_US = dt.timedelta(microseconds=1)


class _Part(msgspec.Struct, array_like=True):
    rows: int
    columns: dict[str, bytes]


def _shuffled(values: np.ndarray) -> bytes:
    return values.view(np.uint8).reshape(-1, values.itemsize).T.tobytes()


def _unshuffled(data: bytes, dtype: type[np.generic], rows: int) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    return np.frombuffer(data, np.uint8).reshape(width, rows).T.copy().view(dtype).ravel()


def _steps(values: np.ndarray) -> bytes:
    return np.diff(values, prepend=values.dtype.type(0)).tobytes()


def _encode(codec: Codec, values: Sequence[Any]) -> bytes:
    n = len(values)
    if codec == "float":
        return _shuffled(np.fromiter((np.nan if v is None else v for v in values), np.float64, n))
    if codec == "date":
        return _steps(np.fromiter((d.toordinal() for d in values), np.int64, n))
    if codec == "month":
        return _steps(np.fromiter((int(m[:4]) * 12 + int(m[5:]) - 1 for m in values), np.int64, n))
    if codec == "instant":
        return _steps(np.fromiter(((t - _EPOCH) // _US for t in values), np.int64, n))
    return np.fromiter((_SIDES.index(s) for s in values), np.uint8, n).tobytes()


def _decode_array(codec: Codec, data: bytes, rows: int) -> np.ndarray:
    """A column as stored: float64 (NaN for null), or int64 day ordinals, months
    (year × 12 + month − 1) or microseconds since 1970, or uint8 sides."""
    if codec == "float":
        return _unshuffled(data, np.float64, rows)
    if codec == "side":
        return np.frombuffer(data, np.uint8)
    return np.cumsum(np.frombuffer(data, np.int64))


def _decode(codec: Codec, data: bytes, rows: int) -> list[Any]:
    if codec == "float":
        values = _decode_array(codec, data, rows)
        return [None if v != v else v for v in values.tolist()]  # NaN is null
    if codec == "side":
        return [_SIDES[s] for s in _decode_array(codec, data, rows).tolist()]
    whole = _decode_array(codec, data, rows).tolist()
    if codec == "date":
        return [dt.date.fromordinal(v) for v in whole]
    if codec == "month":
        return [f"{v // 12:04d}-{v % 12 + 1:02d}" for v in whole]
    return [_EPOCH + v * _US for v in whole]


def encode_parts(kind: SeriesKind, columns: Mapping[str, Sequence[Any]]) -> Iterator[bytes]:
    """The stored parts of one kind's ``columns`` (every name one of ``CODECS[kind]``,
    all of one length), ``PART_ROWS`` rows each; at least one part, empty or not."""
    codecs = CODECS[kind]
    rows = len(next(iter(columns.values()))) if columns else 0
    for start in range(0, max(rows, 1), PART_ROWS):
        end = min(start + PART_ROWS, rows)
        part = _Part(
            end - start,
            {name: _encode(codecs[name], values[start:end]) for name, values in columns.items()},
        )
        yield zlib.compress(msgspec.msgpack.encode(part), LEVEL)


def decode_part_arrays(kind: SeriesKind, body: bytes) -> dict[str, np.ndarray]:
    """A part's columns as stored (``_decode_array``): for a read that computes over
    the whole series and turns only a few rows into Python values."""
    part = msgspec.msgpack.decode(zlib.decompress(body), type=_Part)
    codecs = CODECS[kind]
    return {
        name: _decode_array(codecs[name], data, part.rows) for name, data in part.columns.items()
    }


def decode_part(kind: SeriesKind, body: bytes) -> dict[str, list[Any]]:
    """A part's columns as Python values (``None`` for null), by name; the kind's
    columns the part does not store are absent."""
    part = msgspec.msgpack.decode(zlib.decompress(body), type=_Part)
    codecs = CODECS[kind]
    return {name: _decode(codecs[name], data, part.rows) for name, data in part.columns.items()}
