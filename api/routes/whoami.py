"""/api/v1/whoami: who the API key belongs to (also the benches' trivial route)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from infrastructure.users import User


class Identity(msgspec.Struct, frozen=True):
    name: str
    role: str


@get("/whoami", operation_id="whoAmI", tags=["service"], sync_to_thread=False)
def whoami(request: Request[User, Any, State]) -> Identity:
    """The name and role of the key's owner."""
    return Identity(request.user.name, request.user.role.value)
