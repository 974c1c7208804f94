"""The service's one secret: it seals session cookies, and the keys of CSRF tokens
and of page cursors are derived from it."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from infrastructure.settings import Settings


def service_secret(settings: Settings) -> bytes:
    """The service's secret: from the settings, or a random one kept in the state
    folder so that every worker process (and the CLI) uses the same."""
    if settings.session_secret:
        return hashlib.sha256(settings.session_secret.encode()).digest()
    path = Path(settings.state_dir) / "session-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    for _ in range(50):  # another worker may be half-way through writing it
        text = path.read_text().strip()
        if len(text) == 64:
            return bytes.fromhex(text)
    raise RuntimeError(f"unreadable session secret in {path}")
