"""/api/v1/audit/verify: the hash-chain verification, for auditors."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from api.auth import requires
from api.reads import read_engine
from infrastructure.audit import verify_log
from infrastructure.users import Role, User


class ChainBreakOut(msgspec.Struct, frozen=True):
    position: int
    stream_id: str
    stream_version: int
    reason: str


class Verification(msgspec.Struct, frozen=True):
    """The result of recomputing every stream's hash chain over the log in feed order.

    ``digest`` is sha256 over every event's hash, one per line, in feed order: two
    copies of the log hold the same events in the same order exactly when it matches.
    ``held_back`` counts the newer events the feed does not release yet, because a
    transaction older than theirs is still open: they are checked too, but are not in
    ``events`` or the digest until their place in the feed order is final.
    """

    ok: bool
    events: int
    streams: int
    head_position: int | None
    digest: str
    first_mismatch: ChainBreakOut | None
    held_back: int


@get(
    "/audit/verify",
    operation_id="verifyAuditLog",
    guards=[requires(Role.AUDITOR)],
    sync_to_thread=True,
    tags=["audit"],
)
def verify_audit_log(request: Request[User, Any, State]) -> Verification:
    """Recompute every hash chain and the running digest of the whole log."""
    report = verify_log(read_engine(request))
    return msgspec.convert(report.to_json(), Verification)
