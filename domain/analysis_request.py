"""The inputs of an analysis of a whole experiment (``POST …/analyses``): what CSCV's
PBO and the bootstrap tests of SPA, StepM and MCS are run with."""

from __future__ import annotations

from typing import Annotated

import msgspec

from domain.errors import FieldError, InvalidBacktest
from domain.overfitting import MAX_PARTITIONS, MIN_PARTITIONS
from domain.sanitize import sanitize
from domain.submission import decode_json, validation_error


class AnalysisRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    partitions: Annotated[int, msgspec.Meta(ge=MIN_PARTITIONS, le=MAX_PARTITIONS,
                                            multiple_of=2)] = 16  # fmt: skip
    # a backtest on the same rows whose returns the variants must beat (null: staying out)
    benchmark: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    reps: Annotated[int, msgspec.Meta(ge=10, le=10_000)] = 1000
    block_length: Annotated[float, msgspec.Meta(ge=1, le=10_000)] | None = None
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)] = 0
    size: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.05


def parse_analysis_request(body: bytes | bytearray) -> AnalysisRequest:
    """The request of a body (empty: every default), or an ``InvalidBacktest`` naming
    the field (a 422, like every refused body)."""
    if not body.strip():
        return AnalysisRequest()
    document = decode_json(body)
    try:
        clean, _ = sanitize(document)
        return msgspec.convert(clean, AnalysisRequest)
    except FieldError as exc:
        raise InvalidBacktest([exc]) from exc
    except msgspec.ValidationError as exc:
        raise InvalidBacktest([validation_error(exc, clean)]) from exc
