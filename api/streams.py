"""Streamed responses whose first part is produced before their status is sent.

A stream's status and headers leave before its body: an error while producing the body
can only break the connection, after a 200. So everything that can refuse a request
(an unknown id, a query the store rejects) happens before the first part, and the
first part is produced before the response is: such an error is still a problem
response.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from litestar.response import Stream


def started_stream(
    parts: Iterator[bytes], media_type: str, headers: Mapping[str, str] | None = None
) -> Stream:
    first = next(parts, None)

    def body() -> Iterator[bytes]:
        if first is not None:
            yield first
        yield from parts  # closing the response's body closes ``parts`` too

    return Stream(body(), media_type=media_type, headers=headers)
