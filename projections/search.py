"""Search of the list model: a ``where`` tree compiled to SQL, ordered by any field.

``domain.search`` parses the expression; this module turns its tree into SQLAlchemy
expressions, in which every literal is a bound parameter. Parameters are read with
each store's JSON functions (``jsonb_extract_path`` on PostgreSQL, ``json_extract``
on SQLite), typed by the literal they are compared with: a parameter of another JSON
type, or none, compares as SQL's null, so the same rows match on both stores.

A page is keyset-paginated on (sort key, backtest_id), nulls last: first the rows
with a key, read in the order of the ``(owner_id, key, backtest_id)`` index, then,
once those run out, the rows without one. The cursor names the sort it belongs to.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa

from domain.search import (
    FIELDS,
    NEWEST_FIRST,
    And,
    Compare,
    Expression,
    Field,
    In,
    IsNull,
    Not,
    Or,
    SortKey,
    Value,
    parse_sort,
    parse_where,
)
from infrastructure.database import as_utc
from infrastructure.tables import backtests
from projections.documents import MissingDocument
from projections.queries import MAX_PAGE, AsOf, BadCursor, parse_as_of, visible

b = backtests.c


@dataclass(frozen=True)
class SearchQuery:
    """One page of a search: whose backtests (``None``: everyone's, for auditors), in
    which order, filtered how, after which cursor, as of when."""

    owner_id: str | None
    limit: int = 50
    cursor: str | None = None
    sort: SortKey = NEWEST_FIRST
    where: Expression | None = None
    symbol: str | None = None
    strategy: str | None = None
    experiment: str | None = None
    as_of: AsOf | None = None


def _postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def sort_column(conn: sa.Connection, name: str) -> sa.ColumnElement[Any]:
    """The column a field is sorted and compared by (text in code-point order on both
    stores: SQLite's binary collation, PostgreSQL's "C")."""
    column: sa.ColumnElement[Any] = b[name]
    if FIELDS[name] == "text" and _postgres(conn):
        column = column.collate("C")
    return column


# --- the where tree ---------------------------------------------------------------


def sqlite_path(path: Sequence[str]) -> str:
    """SQLite's JSON path of a dotted parameter path (its names are identifiers: the
    grammar admits nothing that needs escaping), bound as a parameter all the same."""
    return "$" + "".join(f'."{name}"' for name in path)


def _parameter(conn: sa.Connection, field: Field, value: Value) -> sa.ColumnElement[Any]:
    """A parameter as the type of ``value``, null when it is absent or of another type."""
    path = field.path
    if _postgres(conn):
        node = sa.func.jsonb_extract_path(b.parameters, *path)
        kind = sa.func.jsonb_typeof(node)
        text = sa.func.jsonb_extract_path_text(b.parameters, *path)
        if isinstance(value, bool):
            return sa.case((kind == "boolean", text == "true"))
        if isinstance(value, float):
            return sa.case((kind == "number", sa.cast(text, sa.Double)))
        return sa.case((kind == "string", text)).collate("C")
    json_path = sqlite_path(path)
    kind = sa.func.json_type(b.parameters, json_path)
    if isinstance(value, bool):
        return sa.case((kind.in_(("true", "false")), kind == "true"))
    raw = sa.func.json_extract(b.parameters, json_path)
    if isinstance(value, float):
        return sa.case((kind.in_(("integer", "real")), raw))
    return sa.case((kind == "text", raw))


def parameter_text(conn: sa.Connection, path: Sequence[str]) -> sa.ColumnElement[Any]:
    """A parameter's value as text (numbers as their JSON text), null when absent."""
    if _postgres(conn):
        return sa.func.jsonb_extract_path_text(b.parameters, *path)
    return sa.cast(sa.func.json_extract(b.parameters, sqlite_path(path)), sa.Text)


def _parameter_is_null(conn: sa.Connection, field: Field) -> sa.ColumnElement[bool]:
    if _postgres(conn):
        kind = sa.func.jsonb_typeof(sa.func.jsonb_extract_path(b.parameters, *field.path))
    else:
        kind = sa.func.json_type(b.parameters, sqlite_path(field.path))
    return sa.func.coalesce(kind, "null") == "null"


def _operand(conn: sa.Connection, field: Field, value: Value) -> sa.ColumnElement[Any]:
    if field.is_parameter:
        return _parameter(conn, field, value)
    return sort_column(conn, field.name)


def _bound(field: Field, value: Value) -> Any:
    if field.is_parameter:
        return value
    if isinstance(value, float):
        return sa.literal(value, sa.Double)
    return sa.literal(value, b[field.name].type)


_OPERATORS = {
    "=": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}


def compile_where(conn: sa.Connection, expression: Expression) -> sa.ColumnElement[bool]:
    """The SQL condition of a parsed ``where`` tree; its literals are bound parameters."""
    if isinstance(expression, Compare):
        operand = _operand(conn, expression.field, expression.value)
        result: sa.ColumnElement[bool] = _OPERATORS[expression.op](
            operand, _bound(expression.field, expression.value)
        )
        return result
    if isinstance(expression, In):
        operand = _operand(conn, expression.field, expression.values[0])
        return operand.in_([_bound(expression.field, v) for v in expression.values])
    if isinstance(expression, IsNull):
        if expression.field.is_parameter:
            null = _parameter_is_null(conn, expression.field)
            return sa.not_(null) if expression.negated else null
        column = b[expression.field.name]
        return column.is_not(None) if expression.negated else column.is_(None)
    if isinstance(expression, And):
        return sa.and_(*(compile_where(conn, item) for item in expression.items))
    if isinstance(expression, Or):
        return sa.or_(*(compile_where(conn, item) for item in expression.items))
    if isinstance(expression, Not):
        return sa.not_(compile_where(conn, expression.item))
    raise TypeError(f"not a where expression: {expression!r}")


# --- the cursor ------------------------------------------------------------------


def encode_cursor(sort: SortKey, key: Any, backtest_id: str) -> str:
    if isinstance(key, dt.datetime):
        key = as_utc(key).isoformat()
    elif isinstance(key, dt.date):
        key = key.isoformat()
    raw = msgspec.json.encode([str(sort), key, backtest_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_KEY_TYPES: dict[str, Any] = {"number": float | None, "text": str | None,
                              "date": dt.date | None, "time": dt.datetime | None}  # fmt: skip


def decode_cursor(cursor: str, sort: SortKey) -> tuple[Any, str]:
    """The (sort key, backtest id) a cursor continues after; it must be of this sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, key, backtest_id = msgspec.json.decode(raw, type=tuple[str, Any, str])
        key = msgspec.convert(key, _KEY_TYPES[FIELDS[sort.field]], strict=False)
    except (binascii.Error, ValueError, TypeError, msgspec.DecodeError) as exc:
        raise BadCursor("cursor is not one this service issued") from exc
    if name != str(sort):
        raise BadCursor(f"cursor belongs to sort={name}, not sort={sort}")
    return key, backtest_id


# --- pages -----------------------------------------------------------------------


def filters(conn: sa.Connection, query: SearchQuery) -> list[sa.ColumnElement[bool]]:
    """Every condition of a search but its position: visibility, scope and ``where``."""
    conditions = [visible(conn, query.as_of)]
    for name in ("owner_id", "symbol", "strategy", "experiment"):
        value = getattr(query, name)
        if value is not None:
            conditions.append(b[name] == value)
    if query.where is not None:
        conditions.append(compile_where(conn, query.where))
    return conditions


def search_rows(
    conn: sa.Connection, columns: tuple[Any, ...], query: SearchQuery
) -> tuple[list[Any], str | None]:
    """``columns`` of one page of a search's rows and the next page's cursor."""
    limit = max(1, min(query.limit, MAX_PAGE))
    sort = query.sort
    key = sort_column(conn, sort.field)
    ident = b.backtest_id
    base = filters(conn, query)
    after: tuple[Any, str] | None = None
    if query.cursor:
        after = decode_cursor(query.cursor, sort)
    ordered = (key.desc(), ident.desc()) if sort.descending else (key.asc(), ident.asc())
    wanted = (*columns, key, ident)
    rows: list[Any] = []
    if after is None or after[0] is not None:
        keyed = [*base, key.is_not(None)]
        if after is not None:
            position = sa.tuple_(key, ident)
            bound = sa.tuple_(sa.literal(after[0], b[sort.field].type), sa.literal(after[1]))
            keyed.append(position < bound if sort.descending else position > bound)
        statement = sa.select(*wanted).where(*keyed).order_by(*ordered).limit(limit + 1)
        rows = list(conn.execute(statement).all())
    if len(rows) <= limit:
        unkeyed = [*base, key.is_(None)]
        if after is not None and after[0] is None:
            unkeyed.append(ident < after[1] if sort.descending else ident > after[1])
        statement = (
            sa.select(*wanted).where(*unkeyed).order_by(ordered[1]).limit(limit + 1 - len(rows))
        )
        rows.extend(conn.execute(statement).all())
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(sort, last[-2], last[-1])
    return [row[: len(columns)] for row in rows[:limit]], next_cursor


def count_matches(conn: sa.Connection, query: SearchQuery) -> int:
    """How many backtests a search selects, over all its pages."""
    statement = sa.select(sa.func.count()).select_from(backtests).where(*filters(conn, query))
    return int(conn.execute(statement).scalar_one())


def search_json(conn: sa.Connection, query: SearchQuery) -> bytes:
    """A page of a search as the list's JSON (``{items, next_cursor}``), from the stored
    list items."""
    rows, next_cursor = search_rows(conn, (b.backtest_id, b.list_item), query)
    items = []
    for backtest_id, item in rows:
        if item is None:
            raise MissingDocument(backtest_id, "list item")
        items.append(item)
    return b'{"items":[%b],"next_cursor":%b}' % (
        ",".join(items).encode(),
        msgspec.json.encode(next_cursor),
    )


def search_query(
    owner_id: str | None,
    *,
    limit: int = 50,
    cursor: str | None = None,
    sort: str | None = None,
    where: str | None = None,
    symbol: str | None = None,
    strategy: str | None = None,
    experiment: str | None = None,
    as_of: str | None = None,
) -> SearchQuery:
    """A search from the text of its parameters (the API's query string, the CLI's
    flags): ``BadExpression``, ``BadCursor`` or ``BadAsOf`` when one cannot be used."""
    return SearchQuery(
        owner_id,
        limit=limit,
        cursor=cursor,
        sort=parse_sort(sort) if sort else NEWEST_FIRST,
        where=parse_where(where) if where else None,
        symbol=symbol,
        strategy=strategy,
        experiment=experiment,
        as_of=parse_as_of(as_of) if as_of else None,
    )
