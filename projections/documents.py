"""Each backtest's documents as they are served: its detail as JSON, its three CSV
exports, and the JSON of its list item (``backtests.list_item``).

trades.csv is stored as the projector rendered it (``backtest_documents``, zlib
parts) and sent as it is decompressed; the detail, daily.csv and monthly.csv are
rendered from the stored series as they are sent (``series_reads``), a part at a
time, so a detail of a million days streams in flat memory like its trades.csv.
``projections verify`` compares the stored parts with what the log makes.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import sqlalchemy as sa

from infrastructure.database import read_connection
from infrastructure.tables import backtest_details, backtest_documents, backtests
from infrastructure.users import User
from projections.csv_export import COLUMNS, write_slices
from projections.queries import (
    AsOf,
    ListQuery,
    callers_page,
    check_visible,
    encode_cursor,
    page_rows,
)
from projections.series_parts import PART_ROWS
from projections.series_reads import (
    MissingDocument,
    daily_columns,
    daily_results,
    details_row,
    monthly_columns,
    monthly_results,
    row_key,
    trades,
)
from projections.versions import backtest_version
from projections.views import BacktestSummary, detail_json

__all__ = ["MissingDocument"]

DocumentKind = Literal["detail", "daily", "monthly", "trades"]
COMPRESSION_LEVEL = 6
DOCUMENT_COLUMNS = ("backtest_id", "kind", "part_no", "body")


def compress_part(text: str) -> bytes:
    """A stored document's part: its text, UTF-8, zlib-compressed."""
    return zlib.compress(text.encode(), COMPRESSION_LEVEL)


def document_rows(
    backtest_id: str, kind: DocumentKind, parts: Iterable[bytes]
) -> Iterator[tuple[str, str, int, bytes]]:
    """The ``backtest_documents`` rows (``DOCUMENT_COLUMNS``) of one document, given its
    stored parts in order, as they come."""
    for number, body in enumerate(parts):
        yield backtest_id, kind, number, body


def _stored(
    conn: sa.Connection, backtest_id: str, kind: DocumentKind, streaming: bool
) -> Iterator[bytes]:
    """A stored document's parts, decompressed; ``streaming``: from a server-side cursor
    (a transaction of the connection's own), a few parts in memory."""
    d = backtest_documents.c
    if streaming:
        conn = conn.execution_options(stream_results=True, yield_per=16)
    bodies = conn.execute(
        sa.select(d.body).where(d.backtest_id == backtest_id, d.kind == kind).order_by(d.part_no)
    )
    sent = False
    for body in bodies.scalars():
        sent = True
        yield zlib.decompress(body)
    if not sent:  # every document has at least one part
        raise MissingDocument(backtest_id, kind)


def _rendered(
    conn: sa.Connection, backtest_id: str, kind: DocumentKind, streaming: bool = False
) -> Iterator[bytes]:
    """One document's bytes, in chunks, read on ``conn`` (the backtest checked visible)."""
    if kind == "trades":
        yield from _stored(conn, backtest_id, kind, streaming)
        return
    details = details_row(conn, backtest_id)
    capital = details["initial_capital"]
    if kind == "detail":
        item = conn.execute(
            sa.select(backtests.c.list_item).where(backtests.c.backtest_id == backtest_id)
        ).scalar_one()
        if item is None:
            raise MissingDocument(backtest_id, "list item")
        summary = msgspec.json.decode(item, type=BacktestSummary)
        yield from detail_json(
            summary,
            details,
            daily_results(conn, backtest_id, capital),
            monthly_results(conn, backtest_id),
            trades(conn, backtest_id),
        )
        return
    if kind == "daily":
        extras = [name for name in details["daily_extra_columns"].split(",") if name]
        days = daily_columns(conn, backtest_id, capital)
        first = next(days)
        header = (row_key(first), *COLUMNS["daily"][1:], *extras)
        parts: Iterator[dict[str, list[Any]]] = itertools.chain([first], days)
    else:
        header = COLUMNS["monthly"]
        parts = monthly_columns(conn, backtest_id)
    for text in write_slices(header, ([part[name] for name in header] for part in parts)):
        yield text.encode()


def stream_document(
    engine: sa.Engine,
    backtest_id: str,
    kind: DocumentKind,
    owner_id: str | None = None,
    as_of: AsOf | None = None,
) -> Iterator[bytes]:
    """Stream one document, in order, on a connection of its own held only while it is
    read (a server-side cursor on PostgreSQL: a part or a few in memory).

    Call ``check_visible`` first when a missing backtest must be an error before any
    byte is sent; this generator checks again inside its own snapshot.
    """
    with engine.connect() as conn, conn.begin():
        check_visible(conn, backtest_id, owner_id, as_of)
        yield from _rendered(conn, backtest_id, kind, streaming=True)


# A page reads no column it does not send: the next cursor comes from the last item's
# own key, which its JSON carries exactly (``created_at`` to the microsecond). Parsing
# 51 timestamps was a third of a page's client CPU on PostgreSQL.
_LIST_COLUMNS = (backtests.c.backtest_id, backtests.c.list_item)


class _ItemKey(msgspec.Struct):
    """The keyset position of a list item, read from its JSON."""

    created_at: dt.datetime
    backtest_id: str


# A backtest of at most this many rows of each kind (one stored part) has its
# documents rendered whole on the reading connection; a longer one streams on a
# connection of its own, which costs a transaction, a cursor and a thread hop per part
# more.
WHOLE_ROWS = PART_ROWS


@dataclass(frozen=True)
class Document:
    """A document ready to send: whole, or as a stream whose first part is read; and
    the version of the backtest's stream it was read at."""

    symbol: str
    body: bytes | Iterator[bytes]
    version: int = 0

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
    b = backtests.c
    with read_connection(engine) as conn:
        symbol, version = backtest_version(conn, backtest_id, owner_id, as_of)
        start, end, deals = conn.execute(
            sa.select(b.start_date, b.end_date, b.num_trades).where(b.backtest_id == backtest_id)
        ).one()
        # the dates strictly increase: there are at most as many days as dates between
        if (end - start).days < WHOLE_ROWS and deals <= WHOLE_ROWS:
            return Document(symbol, b"".join(_rendered(conn, backtest_id, kind)), version)
    rest = stream_document(engine, backtest_id, kind, owner_id, as_of)
    # Started now, so that a backtest deleted meanwhile is an error, not a short 200.
    first = next(rest, b"")
    return Document(symbol, itertools.chain((first,), rest), version)


# What ``fields=`` may add to each item of a list page: the recorded text of these
# details, so that a search that needs them reads no detail.
ADDED_FIELDS = ("parameters", "provenance")
_ADDED = "(" + "|".join(ADDED_FIELDS) + ")"
ADDED_FIELDS_PATTERN = rf"^{_ADDED}(,{_ADDED})*$"  # what the API's ``fields=`` takes


@functools.lru_cache(maxsize=8)
def added_columns(fields: tuple[str, ...]) -> tuple[Any, ...]:
    """``fields`` (of ``ADDED_FIELDS``) of each listed backtest's details, as columns of
    the page's own statement: looked up for the page's rows alone, so that a page with
    them is still one query (a second query for them cost a third of the page's time).
    The same objects for the same fields, so the page's statement is built once."""
    d = backtest_details.c
    return tuple(
        sa.select(d[name]).where(d.backtest_id == backtests.c.backtest_id)
        .scalar_subquery().label(f"added_{name}")
        for name in fields
    )  # fmt: skip


def page_items(rows: Sequence[Sequence[Any]], fields: Sequence[str] = ()) -> list[str]:
    """The stored list items of a page's (backtest_id, list_item, *``fields``) rows
    (``added_columns``), each with the ``fields`` added as recorded."""
    items = []
    for backtest_id, item, *added in rows:
        if item is None:
            raise MissingDocument(backtest_id, "list item")
        if fields:
            pairs = zip(fields, added, strict=True)
            item = item[:-1] + "".join(f',"{name}":{text or "null"}' for name, text in pairs) + "}"
        items.append(item)
    return items


def list_json(conn: sa.Connection, query: ListQuery, fields: Sequence[str] = ()) -> bytes:
    """The page ``queries.list_backtests`` gives, as the JSON it encodes to, put
    together from the stored list items (with ``fields`` added: ``page_items``)."""
    columns = (*_LIST_COLUMNS, *added_columns(tuple(fields)))
    return _page_json(*page_rows(conn, columns, backtests, query), fields)


def callers_list_json(
    conn: sa.Connection, key_hash: str, query: ListQuery, fields: Sequence[str] = ()
) -> tuple[User, bytes] | None:
    """The active user holding the key of this hash (None: nobody), and the page of
    their own backtests ``list_json`` gives (``query.owner_id`` aside), read in one
    statement with them (``queries.callers_page``)."""
    columns = (*_LIST_COLUMNS, *added_columns(tuple(fields)))
    found = callers_page(conn, columns, key_hash, query)
    if found is None:
        return None
    user, rows, limit = found
    return user, _page_json(rows, limit, fields)


def _page_json(rows: Sequence[Sequence[Any]], limit: int, fields: Sequence[str]) -> bytes:
    items = page_items(rows[:limit], fields)
    next_cursor = None
    if len(rows) > limit:
        last = msgspec.json.decode(items[-1], type=_ItemKey)
        next_cursor = encode_cursor(last.created_at, last.backtest_id)
    return b'{"items":[%b],"next_cursor":%b}' % (
        ",".join(items).encode(),
        msgspec.json.encode(next_cursor),
    )
