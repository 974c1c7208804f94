"""Each backtest's stored documents, rendered once by the projector and served as
stored: its three CSV exports and the JSON of its detail (``backtest_documents``, part
after part), and the JSON of its list item (``backtests.list_item``).

A read then costs what reading text costs: no rows turned into objects and back into
text per request, and a detail of a million trades streams in flat memory like its
trades.csv. ``projections verify`` compares the stored parts with what the log makes.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import msgspec
import sqlalchemy as sa

from infrastructure.database import read_connection
from infrastructure.tables import backtest_documents, backtests
from projections.queries import AsOf, ListQuery, check_visible, encode_cursor, page_rows

DocumentKind = Literal["detail", "daily", "monthly", "trades"]
PART_BYTES = 64 * 1024


class MissingDocument(RuntimeError):
    """A live backtest without one of its stored documents: the read models are
    incomplete (``projections rebuild`` makes them again from the log)."""

    def __init__(self, backtest_id: str, kind: str) -> None:
        super().__init__(
            f"no stored {kind} document for backtest {backtest_id}: run projections rebuild"
        )


DOCUMENT_COLUMNS = ("backtest_id", "kind", "part_no", "body")


def document_rows(
    backtest_id: str, kind: DocumentKind, parts: Iterable[str]
) -> Iterator[tuple[str, str, int, str]]:
    """The ``backtest_documents`` rows (``DOCUMENT_COLUMNS``) of one document, given its
    parts in order, as they come."""
    for number, body in enumerate(parts):
        yield backtest_id, kind, number, body


def json_parts(chunks: Iterable[bytes]) -> Iterator[str]:
    """UTF-8 JSON, given in chunks of any size, cut into parts of ``PART_BYTES``
    (less where a character would be cut; the last part shorter), as they fill: the
    document is never held whole."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        while len(pending) > PART_BYTES:  # more follows this part: cut it here
            end = PART_BYTES
            while pending[end] & 0xC0 == 0x80:  # a continuation byte
                end -= 1
            yield pending[:end].decode()
            del pending[:end]
    if pending:
        yield pending.decode()


def stream_document(
    engine: sa.Engine,
    backtest_id: str,
    kind: DocumentKind,
    owner_id: str | None = None,
    as_of: AsOf | None = None,
    from_part: int = 0,
) -> Iterator[bytes]:
    """Stream one document's stored parts from ``from_part`` on, in order, on a
    connection of its own held only while it is read (a server-side cursor on
    PostgreSQL: a few parts in memory).

    Call ``check_visible`` first when a missing backtest must be an error before any
    byte is sent; this generator checks again inside its own snapshot.
    """
    d = backtest_documents
    with engine.connect() as conn, conn.begin():
        check_visible(conn, backtest_id, owner_id, as_of)
        parts = conn.execution_options(stream_results=True, yield_per=16).execute(
            sa.select(d.c.body)
            .where(d.c.backtest_id == backtest_id, d.c.kind == kind, d.c.part_no >= from_part)
            .order_by(d.c.part_no)
        )
        sent = 0
        for body in parts.scalars():
            sent += 1
            yield body.encode()
        if sent == 0 and from_part == 0:  # every document has at least one part
            raise MissingDocument(backtest_id, kind)


# A page reads no column it does not send: the next cursor comes from the last item's
# own key, which its JSON carries exactly (``created_at`` to the microsecond). Parsing
# 51 timestamps was a third of a page's client CPU on PostgreSQL.
_LIST_COLUMNS = (backtests.c.backtest_id, backtests.c.list_item)


class _ItemKey(msgspec.Struct):
    """The keyset position of a list item, read from its JSON."""

    created_at: dt.datetime
    backtest_id: str


# A document of up to this many parts (about 1 MiB) is read whole by one query; a
# longer one streams from a server-side cursor on a connection of its own, which costs
# a transaction, a cursor and a thread hop per part more.
WHOLE_PARTS = 16
_FIRST_PARTS = (
    sa.select(backtest_documents.c.body)
    .where(
        backtest_documents.c.backtest_id == sa.bindparam("backtest_id"),
        backtest_documents.c.kind == sa.bindparam("kind"),
    )
    .order_by(backtest_documents.c.part_no)
    .limit(WHOLE_PARTS + 1)
)


@dataclass(frozen=True)
class Document:
    """A document ready to send: whole, or as a stream whose first part is read."""

    symbol: str
    body: bytes | Iterator[bytes]

    def parts(self) -> Iterator[bytes]:
        if isinstance(self.body, bytes):
            yield self.body
        else:
            yield from self.body


def read_document(
    engine: sa.Engine,
    backtest_id: str,
    kind: DocumentKind,
    owner_id: str | None = None,
    as_of: AsOf | None = None,
) -> Document:
    """One document of a backtest the caller may read (``BacktestNotFound``, or
    ``MissingDocument``, before any byte is sent)."""
    with read_connection(engine) as conn:
        symbol = check_visible(conn, backtest_id, owner_id, as_of)
        first = conn.execute(_FIRST_PARTS, {"backtest_id": backtest_id, "kind": kind})
        bodies = list(first.scalars())
    if not bodies:
        raise MissingDocument(backtest_id, kind)
    head = "".join(bodies).encode()
    if len(bodies) <= WHOLE_PARTS:
        return Document(symbol, head)
    rest = stream_document(engine, backtest_id, kind, owner_id, as_of, from_part=len(bodies))
    # Started now, so that a backtest deleted meanwhile is an error, not a short 200.
    following = next(rest, None)
    read = (head,) if following is None else (head, following)
    return Document(symbol, itertools.chain(read, rest))


def list_json(conn: sa.Connection, query: ListQuery) -> bytes:
    """The page ``queries.list_backtests`` gives, as the JSON it encodes to, put
    together from the stored list items."""
    rows, limit = page_rows(conn, _LIST_COLUMNS, backtests, query)
    items = []
    for backtest_id, item in rows[:limit]:
        if item is None:
            raise MissingDocument(backtest_id, "list item")
        items.append(item)
    next_cursor = None
    if len(rows) > limit:
        last = msgspec.json.decode(items[-1], type=_ItemKey)
        next_cursor = encode_cursor(last.created_at, last.backtest_id)
    return b'{"items":[%b],"next_cursor":%b}' % (
        ",".join(items).encode(),
        msgspec.json.encode(next_cursor),
    )
