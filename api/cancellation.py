"""Long work on a worker thread that ends when nobody waits for it any more: when the
client disconnects, or when the request's time budget runs out.

The work is a function that takes ``stop`` and asks it now and then; ``stop()`` turns
true once the client has gone (the ASGI server's ``http.disconnect``, read while the
work runs) or the budget is spent. Litestar runs a sync handler to its end whatever the
client does (litestar issue #2490), hence this.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from litestar import Request

T = TypeVar("T")
log = logging.getLogger("backtest_ledger")


class OutOfTime(Exception):
    """The work used up its time budget before it finished."""

    def __init__(self, budget: float) -> None:
        super().__init__(f"the work took longer than its {budget:g} s budget")
        self.budget = budget


async def run_while_awaited(
    request: Request[Any, Any, Any],
    work: Callable[[Callable[[], bool]], T],
    budget: float,
    stopped: type[Exception],
) -> T:
    """``work(stop)`` on a worker thread. The ``stopped`` exception it raises once
    ``stop()`` is true becomes ``OutOfTime`` when the budget ran out while the client
    still waited, and is logged when the client had gone."""
    gone = threading.Event()
    deadline = time.monotonic() + budget

    def stop() -> bool:
        return gone.is_set() or time.monotonic() > deadline

    async def watch() -> None:
        # For a GET nothing has read the request yet: the first message is its (empty)
        # body, then the next arrives only when the client disconnects.
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()

    outcome: list[T] = []
    failure: list[BaseException] = []
    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            outcome.append(await anyio.to_thread.run_sync(work, stop))
        except Exception as exc:  # re-raised outside the group, never wrapped in a group
            failure.append(exc)
        group.cancel_scope.cancel()
    if failure:
        if isinstance(failure[0], stopped):
            if gone.is_set():
                log.info("%s %s: the client went away, %s", request.method,
                         request.url.path, failure[0])  # fmt: skip
            else:
                raise OutOfTime(budget) from failure[0]
        raise failure[0]
    return outcome[0]
