"""One pooled HTTP client and the retry rule every call goes through.

Connection errors, 429 and 503 are retried with exponential backoff and full jitter,
waiting at least what ``Retry-After`` asks; anything else that is not a success is
raised at once as the ``errors`` exception for its status. Each retry is logged at
WARNING with its reason. A refused connection before the ledger ever answered this
client is raised at once (a wrong URL, or nothing started): retrying it only delays
the error; once it has answered, a refused connection is a restart and is retried.
A record is safe to retry
because it always carries one ``Idempotency-Key``: the service answers a repeat with
the first answer instead of recording twice. Each write's ``Ledger-Consistency``
token goes with every later request, so reads see this client's own writes.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from backtest_ledger.errors import ServiceUnavailable, error_for

log = logging.getLogger("backtest_ledger")
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
CONSISTENCY = "Ledger-Consistency"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # the first and five retries
    backoff: float = 0.5  # seconds before the first retry, doubling each time
    max_backoff: float = 30.0

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Full jitter on an exponential ceiling, never less than ``Retry-After``."""
        ceiling = min(self.max_backoff, self.backoff * 2**retry)
        return max(random.uniform(0, ceiling), retry_after or 0.0)


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _problem(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class Transport:
    """Sends requests to one ledger, retrying what is safe to retry."""

    def __init__(self, client: httpx.Client, policy: RetryPolicy) -> None:
        self.client = client
        self.policy = policy
        # the token of this client's last write, sent with every request after it: a
        # ledger reading from standbys then never answers older than that write
        self.consistency: str | None = None
        self.answered = False  # whether the ledger has answered this client yet

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        gone_is_done: bool = False,
    ) -> httpx.Response:
        """The response to a request, once it succeeds; ``gone_is_done``: a 404 after a
        retry means an earlier attempt got through (a delete)."""
        detail, status, wait = "", None, None
        for attempt in range(self.policy.attempts):
            if attempt:
                delay = self.policy.delay(attempt - 1, wait)
                log.warning("%s %s: %s; retry %d of %d in %.1f s", method, path, detail,
                            attempt, self.policy.attempts - 1, delay)  # fmt: skip
                time.sleep(delay)
            sent = dict(headers or {})
            if self.consistency is not None:
                sent.setdefault(CONSISTENCY, self.consistency)
            try:
                response = self.client.request(
                    method, path, params=params, content=content, headers=sent
                )
            except httpx.TransportError as exc:
                if isinstance(exc, httpx.ConnectError) and not self.answered:
                    raise ServiceUnavailable(
                        f"nothing answers at {self.client.base_url}: {exc} (is the ledger "
                        "running, and is BACKTEST_LEDGER_URL right?)"
                    ) from exc
                detail, status, wait = f"{type(exc).__name__}: {exc}", None, None
                continue
            self.answered = True
            if response.status_code in RETRIED_STATUSES:
                problem = _problem(response)
                found = problem.get("detail") if isinstance(problem, dict) else None
                detail, status = str(found or response.text), response.status_code
                wait = retry_after(response)
                continue
            if response.status_code == 404 and gone_is_done and attempt:
                return response
            if response.status_code >= 400:
                raise error_for(response.status_code, _problem(response), response.text)
            self.consistency = response.headers.get(CONSISTENCY, self.consistency)
            return response
        raise ServiceUnavailable(f"gave up after {self.policy.attempts} attempts: {detail}", status)
