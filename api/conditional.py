"""Conditional GETs: strong ETags derived from what an answer depends on (a stream's
version, an experiment's ``experiment_version``, a report's inputs), and 304 Not Modified for a
client that already holds the answer, decided before any series is read.

Every tag also names the representation (the package's version and the newest
migration), so answers rendered by another release never match. ``Cache-Control:
private, no-cache``: a browser or a client may keep the answer, a shared proxy may not
(it is one user's), and either asks again, cheaply, before using it.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import MediaType, Request, Response

from infrastructure.migrate import HEAD_REVISION

CACHE_CONTROL = "private, no-cache"
# The API's conditional reads, by operation id, with what their tag is derived from
# (``api.openapi`` documents their ETag, If-None-Match and 304 from this).
CONDITIONAL_READS = {
    "getBacktest": "the backtest's stream version",
    "downloadDailyCsv": "the backtest's stream version",
    "downloadMonthlyCsv": "the backtest's stream version",
    "downloadTradesCsv": "the backtest's stream version",
    "getBacktestHistory": "the backtest's stream version",
    "compareBacktests": "each compared backtest's stream version and the points asked",
    "getBacktestSignificance": "the report's inputs: its parameters and the trials counted",
    "downloadExperimentCsv": "the experiment's newest record, deletion and exclusion, "
    "and the request's terms",
    "downloadExperimentParquet": "the experiment's newest record, deletion and "
    "exclusion, and the request's terms",
}


def _release() -> str:
    try:
        return version("backtest-ledger")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout not installed
        return "unknown"


REPRESENTATION = f"{_release()}/{HEAD_REVISION}"


def etag(*parts: object) -> str:
    """A strong ETag of what the answer depends on."""
    text = "\x1f".join(str(p) for p in (REPRESENTATION, *parts))
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:40] + '"'


def validators(tag: str) -> dict[str, str]:
    """The headers an answer with this tag carries."""
    return {"ETag": tag, "Cache-Control": CACHE_CONTROL}


def holds(request: Request[Any, Any, Any], tag: str) -> bool:
    """Whether the client's ``If-None-Match`` names this tag (weak comparison, as RFC
    9110 asks of If-None-Match; ``*`` names any)."""
    wanted = request.headers.get("if-none-match")
    if not wanted:
        return False
    if wanted.strip() == "*":
        return True
    return any(candidate.strip().removeprefix("W/") == tag for candidate in wanted.split(","))


def not_modified(tag: str) -> Response[bytes]:
    """304 with the tag and no body, whatever the route's own media type."""
    return Response(b"", status_code=304, media_type=MediaType.TEXT, headers=validators(tag))
