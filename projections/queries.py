"""Read-model queries: the owner's list (keyset-paginated) and one backtest's detail."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, replace
from typing import Any

import msgspec
import sqlalchemy as sa

from domain.errors import BacktestNotFound
from domain.metrics import METRIC_NAMES
from infrastructure.database import as_utc, fetch_rows
from infrastructure.event_store import MAX_POSITION, feed_key, in_feed_up_to
from infrastructure.tables import backtest_details, backtests, users
from infrastructure.users import ACTIVE_KEY, USER_COLUMNS, User, user_by_key_hash, user_of
from projections.cursors import BadCursor, seal, unseal
from projections.series_reads import (
    daily_results,
    details_row,
    monthly_results,
    trade_slice,
    trades,
)
from projections.views import (
    BacktestDetail,
    BacktestPage,
    BacktestSummary,
    detail_of,
    summary_of,
)

MAX_PAGE = 500
# The columns a summary is built from: all but the stored documents and parameters.
SUMMARY_COLUMNS = tuple(
    column
    for column in backtests.c
    if column.name not in ("list_item", "parameters", "sweep_row", "sweep_params")
)
_SUMMARY_NAMES = tuple(column.name for column in SUMMARY_COLUMNS)


class BadAsOf(ValueError):
    """An ``as_of`` that is neither an ISO 8601 time with offset nor ``position:N``."""


@dataclass(frozen=True)
class AsOf:
    """A past moment: a time, or a position in the feed ("as of position N")."""

    time: dt.datetime | None = None
    position: int | None = None


def parse_as_of(text: str) -> AsOf:
    if text.startswith("position:"):
        number = text.removeprefix("position:")
        # isdigit alone takes "²" and other digits int() refuses: ASCII digits only
        if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= MAX_POSITION:
            raise BadAsOf("as_of=position:N needs a whole N from 1 to 2^63 - 1")
        return AsOf(position=int(number))
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadAsOf("as_of must be an ISO 8601 time with offset or position:N") from exc
    if moment.tzinfo is None:
        raise BadAsOf("as_of needs a UTC offset, e.g. 2026-01-31T00:00:00Z")
    try:
        return AsOf(time=moment.astimezone(dt.UTC))
    except OverflowError as exc:  # 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise BadAsOf("as_of is outside the years 1 to 9999 in UTC") from exc


def visible_now() -> Any:
    """Which summary rows are live."""
    return backtests.c.deleted_position.is_(None)


def visible(conn: sa.Connection, as_of: AsOf | None) -> Any:
    """Which summary rows were live: now, at a time, or as of a feed position."""
    b = backtests.c
    if as_of is None:
        return visible_now()
    if as_of.time is not None:
        return sa.and_(
            b.created_at <= as_of.time,
            sa.or_(b.deleted_at.is_(None), b.deleted_at > as_of.time),
        )
    n = as_of.position or 0
    key = feed_key(conn, n)
    return sa.and_(
        in_feed_up_to(conn, b.position, n, key),
        sa.or_(
            b.deleted_position.is_(None),
            sa.not_(in_feed_up_to(conn, b.deleted_position, n, key)),
        ),
    )


def encode_cursor(created_at: dt.datetime, backtest_id: str) -> str:
    return seal([as_utc(created_at).isoformat(), backtest_id])


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        return msgspec.convert(unseal(cursor), type=tuple[dt.datetime, str], strict=False)
    except msgspec.ValidationError as exc:
        raise BadCursor("cursor is not one of the list's") from exc


def owner_of(conn: sa.Connection, backtest_id: str) -> str | None:
    """The owner of a backtest ever recorded (deleted ones too), or None: from the read
    model, for a check that must not read the stream."""
    found = conn.execute(
        sa.select(backtests.c.owner_id).where(backtests.c.backtest_id == backtest_id)
    ).scalar_one_or_none()
    return None if found is None else str(found)


def check_visible(
    conn: sa.Connection, backtest_id: str, owner_id: str | None, as_of: AsOf | None = None
) -> str:
    """The symbol of a backtest live now (or at ``as_of``) that the caller may read
    (``owner_id=None``: any owner's), or ``BacktestNotFound``."""
    query = sa.select(backtests.c.symbol).where(
        backtests.c.backtest_id == backtest_id, visible(conn, as_of)
    )
    if owner_id is not None:
        query = query.where(backtests.c.owner_id == owner_id)
    symbol = conn.execute(query).scalar_one_or_none()
    if symbol is None:
        raise BacktestNotFound(backtest_id)
    return str(symbol)


@dataclass(frozen=True)
class ListQuery:
    """One page of the list: whose backtests (``None``: everyone's, for auditors), how
    many, after which cursor, of which symbol and strategy, as of when."""

    owner_id: str | None
    limit: int = 50
    cursor: str | None = None
    symbol: str | None = None
    strategy: str | None = None
    as_of: AsOf | None = None


def page_rows(
    conn: sa.Connection, columns: tuple[Any, ...], source: sa.FromClause, query: ListQuery
) -> tuple[list[Any], int]:
    """``columns`` of a page's rows (sequences in column order), newest first, by one
    indexed query, and the page's length: one row more than that, if there is one,
    shows there is a next page."""
    limit, params = _page_params(query)
    if query.as_of is None:  # the list as it is now: the same few statements, built once
        statement = _page_query(columns, source, frozenset(params))
        return fetch_rows(conn, statement, params), limit
    live = visible(conn, query.as_of)
    statement = _build_page_query(columns, source, live, frozenset(params))
    return list(conn.execute(statement, params).all()), limit


def _page_params(query: ListQuery) -> tuple[int, dict[str, Any]]:
    """A page's length, and the values its statement is run with."""
    limit = max(1, min(query.limit, MAX_PAGE))
    filters = {"owner_id": query.owner_id, "symbol": query.symbol, "strategy": query.strategy}
    params: dict[str, Any] = {name: value for name, value in filters.items() if value is not None}
    if query.cursor:
        params["after_created"], params["after_id"] = decode_cursor(query.cursor)
    params["limit"] = limit + 1
    return limit, params


def callers_page(
    conn: sa.Connection, columns: tuple[Any, ...], key_hash: str, query: ListQuery
) -> tuple[User, list[Any], int] | None:
    """The active user holding the key of this hash (None: nobody) and ``page_rows`` of
    a page of their own backtests (``query.owner_id`` aside), in one statement on
    PostgreSQL: one round trip where the caller's lookup and the page took two. With
    two, the list served 0.54–0.56 times the trivial route's requests at 32
    connections; with one, 0.63–0.65 in the same bench (``bench/reads.py``'s routes).
    SQLite has no LATERAL: there, the caller and then the page."""
    if conn.dialect.name == "sqlite":
        user = user_by_key_hash(conn, key_hash)
        if user is None:
            return None
        return user, *page_rows(conn, columns, backtests, replace(query, owner_id=user.user_id))
    limit, params = _page_params(replace(query, owner_id=None))
    statement = _callers_page_query(columns, frozenset(params))
    rows = fetch_rows(conn, statement, {**params, "key_hash": key_hash})
    if not rows:
        return None
    width = len(USER_COLUMNS)
    page = [row[width:] for row in rows if row[width] is not None]  # none: one empty row
    return user_of(rows[0][:width]), page, limit


@functools.lru_cache(maxsize=64)
def _callers_page_query(columns: tuple[Any, ...], names: frozenset[str]) -> sa.Select[Any]:
    """The caller's row beside each row of their page (LATERAL: PostgreSQL only)."""
    page = (
        _build_page_query(columns, backtests, visible_now(), names)
        .where(backtests.c.owner_id == users.c.user_id)
        .lateral("page")
    )
    caller = users.outerjoin(page, sa.true())
    return sa.select(*USER_COLUMNS, *page.c).select_from(caller).where(ACTIVE_KEY)


def _build_page_query(
    columns: tuple[Any, ...], source: sa.FromClause, live: Any, names: frozenset[str]
) -> sa.Select[Any]:
    b = backtests.c
    query = sa.select(*columns).select_from(source).where(live)
    for name in ("owner_id", "symbol", "strategy"):
        if name in names:
            query = query.where(b[name] == sa.bindparam(name))
    if "after_id" in names:
        after = sa.tuple_(
            sa.bindparam("after_created", type_=b.created_at.type),
            sa.bindparam("after_id", type_=b.backtest_id.type),
        )
        query = query.where(sa.tuple_(b.created_at, b.backtest_id) < after)
    return query.order_by(b.created_at.desc(), b.backtest_id.desc()).limit(sa.bindparam("limit"))


@functools.lru_cache(maxsize=64)
def _page_query(
    columns: tuple[Any, ...], source: sa.FromClause, names: frozenset[str]
) -> sa.Select[Any]:
    return _build_page_query(columns, source, visible_now(), names)


def list_backtests(conn: sa.Connection, query: ListQuery) -> BacktestPage:
    """A page of live backtests (or of those live at ``as_of``), newest first."""
    rows, limit = page_rows(conn, SUMMARY_COLUMNS, backtests, query)
    items = [summary_of(dict(zip(_SUMMARY_NAMES, row, strict=True))) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1].created_at, items[-1].backtest_id)
    return BacktestPage(items=items, next_cursor=next_cursor)


PARAMETERS_READ = 2000  # characters of a backtest's parameters a list page reads


def parameters_of(conn: sa.Connection, ids: list[str]) -> dict[str, dict[str, Any] | str]:
    """The parameters of each listed backtest, for the list page: decoded when their
    JSON is short, else its first ``PARAMETERS_READ`` characters as text (a page of
    backtests with megabytes of parameters each reads kilobytes)."""
    if not ids:
        return {}
    d = backtest_details.c
    rows = conn.execute(
        sa.select(d.backtest_id, sa.func.substr(d.parameters, 1, PARAMETERS_READ + 1)).where(
            d.backtest_id.in_(ids)
        )
    )
    return {
        backtest_id: msgspec.json.decode(text) if len(text) <= PARAMETERS_READ else text
        for backtest_id, text in rows
    }


def trade_page(
    conn: sa.Connection, backtest_id: str, page: int, per_page: int = 50
) -> tuple[list[Any], int]:
    """One page of a backtest's trades (call after an access check) and the count."""
    total = conn.execute(
        sa.select(backtests.c.num_trades).where(backtests.c.backtest_id == backtest_id)
    ).scalar_one()
    return trade_slice(conn, backtest_id, (max(page, 1) - 1) * per_page, per_page), int(total)


SORTABLE = ("created_at", "symbol", "strategy", *METRIC_NAMES)


@dataclass(frozen=True)
class SortedPage:
    items: list[BacktestSummary]
    total: int


def list_sorted(
    conn: sa.Connection,
    owner_id: str | None,
    *,
    sort: str = "created_at",
    descending: bool = True,
    page: int = 1,
    per_page: int = 50,
    symbol: str | None = None,
    strategy: str | None = None,
    as_of: AsOf | None = None,
) -> SortedPage:
    """A page of the list sorted by any metric (nulls last), for people browsing."""
    if sort not in SORTABLE:
        raise BadCursor(f"cannot sort by {sort!r}")
    where = [visible(conn, as_of)]
    if owner_id is not None:
        where.append(backtests.c.owner_id == owner_id)
    if symbol:
        where.append(backtests.c.symbol == symbol)
    if strategy:
        where.append(backtests.c.strategy == strategy)
    column = backtests.c[sort]
    order = column.desc().nulls_last() if descending else column.asc().nulls_last()
    query = (
        sa.select(*SUMMARY_COLUMNS)
        .where(*where)
        .order_by(order, backtests.c.backtest_id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    total = conn.execute(sa.select(sa.func.count()).select_from(backtests).where(*where))
    items = [summary_of(m) for m in conn.execute(query).mappings()]
    return SortedPage(items, int(total.scalar_one()))


def find_summary(
    conn: sa.Connection, backtest_id: str, owner_id: str | None, as_of: AsOf | None = None
) -> BacktestSummary:
    """A live backtest's summary (or one live at ``as_of``); ``owner_id=None`` reads any
    owner's (auditors)."""
    query = sa.select(*SUMMARY_COLUMNS).where(
        backtests.c.backtest_id == backtest_id, visible(conn, as_of)
    )
    if owner_id is not None:
        query = query.where(backtests.c.owner_id == owner_id)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise BacktestNotFound(backtest_id)
    return summary_of(row)


def get_detail(
    conn: sa.Connection,
    backtest_id: str,
    owner_id: str | None,
    as_of: AsOf | None = None,
    *,
    with_trades: bool = True,
) -> BacktestDetail:
    """Everything about one live backtest (or one live at ``as_of``); the report page
    leaves the trades out and pages them with ``trade_page``."""
    summary = find_summary(conn, backtest_id, owner_id, as_of)
    details = details_row(conn, backtest_id)
    capital = details["initial_capital"]
    return detail_of(
        summary,
        details,
        daily_results(conn, backtest_id, capital),
        monthly_results(conn, backtest_id),
        trades(conn, backtest_id) if with_trades else (),
    )
