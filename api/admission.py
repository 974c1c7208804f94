"""Admission of large request bodies: how many bytes of them one worker process holds
at once.

Recording a backtest holds its body and then its decoded rows and read-model parts:
8 to 11 times the body at the peak. Ten 43 MB bodies at once took a worker to +2.5 GB
and kept its health check waiting 27 s. So each record reserves its declared length
(the largest body allowed when it declares none) from a budget of
``record_budget_bytes`` before it reads a byte; one that cannot be reserved within
``admission_wait_s`` is answered 503 with Retry-After, its body unread. A body never
waits for itself: one larger than the whole budget is admitted alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar.exceptions import HTTPException

RETRY_AFTER_S = 5


class BodyBudget:
    def __init__(self, total_bytes: int, wait_s: float) -> None:
        self.total, self.wait_s = total_bytes, wait_s
        self.held = 0
        self._released = asyncio.Condition()

    @asynccontextmanager
    async def holding(self, size: int) -> AsyncIterator[None]:
        """Hold ``size`` bytes of the budget while the block runs, or a 503."""
        size = min(size, self.total)
        async with self._released:
            try:
                await asyncio.wait_for(
                    self._released.wait_for(lambda: self.held + size <= self.total),
                    timeout=self.wait_s,
                )
            except TimeoutError:
                raise HTTPException(
                    status_code=503,
                    detail=f"busy: {self.held // 2**20} MiB of bodies are being recorded "
                    f"by this worker (its budget is {self.total // 2**20} MiB); retry in "
                    f"{RETRY_AFTER_S} s",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                ) from None
            self.held += size
        try:
            yield
        finally:
            async with self._released:
                self.held -= size
                self._released.notify_all()
