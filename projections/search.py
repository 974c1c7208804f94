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

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

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
from infrastructure.database import as_utc, fetch_rows
from infrastructure.tables import backtests
from projections.cursors import BadCursor, seal, unseal
from projections.documents import added_columns, page_items
from projections.queries import MAX_PAGE, AsOf, parse_as_of, visible, visible_now

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


def _postgres(dialect: str) -> bool:
    return dialect == "postgresql"


def sort_column(dialect: str, name: str) -> sa.ColumnElement[Any]:
    """The column a field is sorted and compared by (text in code-point order on both
    stores: SQLite's binary collation, PostgreSQL's "C")."""
    column: sa.ColumnElement[Any] = b[name]
    if FIELDS[name] == "text" and _postgres(dialect):
        column = column.collate("C")
    return column


# --- the where tree ---------------------------------------------------------------


def sqlite_path(path: Sequence[str]) -> str:
    """SQLite's JSON path of a dotted parameter path (its names are identifiers: the
    grammar admits nothing that needs escaping), bound as a parameter all the same."""
    return "$" + "".join(f'."{name}"' for name in path)


def _parameter(dialect: str, field: Field, value: Value) -> sa.ColumnElement[Any]:
    """A parameter (or a part of the provenance) as the type of ``value``, null when it
    is absent or of another type."""
    path, column = field.path, b[field.name]
    if _postgres(dialect):
        node = sa.func.jsonb_extract_path(column, *path)
        kind = sa.func.jsonb_typeof(node)
        text = sa.func.jsonb_extract_path_text(column, *path)
        if isinstance(value, bool):
            return sa.case((kind == "boolean", text == "true"))
        if isinstance(value, float):
            return sa.case((kind == "number", sa.cast(text, sa.Double)))
        return sa.case((kind == "string", text)).collate("C")
    json_path = sqlite_path(path)
    kind = sa.func.json_type(column, json_path)
    if isinstance(value, bool):
        return sa.case((kind.in_(("true", "false")), kind == "true"))
    raw = sa.func.json_extract(column, json_path)
    if isinstance(value, float):
        return sa.case((kind.in_(("integer", "real")), raw))
    return sa.case((kind == "text", raw))


def parameter_text(dialect: str, path: Sequence[str]) -> sa.ColumnElement[Any]:
    """A parameter's value as text (numbers as their JSON text), null when absent."""
    if _postgres(dialect):
        return sa.func.jsonb_extract_path_text(b.parameters, *path)
    return sa.cast(sa.func.json_extract(b.parameters, sqlite_path(path)), sa.Text)


def _parameter_is_null(dialect: str, field: Field) -> sa.ColumnElement[bool]:
    column = b[field.name]
    if _postgres(dialect):
        kind = sa.func.jsonb_typeof(sa.func.jsonb_extract_path(column, *field.path))
    else:
        kind = sa.func.json_type(column, sqlite_path(field.path))
    return sa.func.coalesce(kind, "null") == "null"


def _operand(dialect: str, field: Field, value: Value) -> sa.ColumnElement[Any]:
    if field.is_json_path:
        return _parameter(dialect, field, value)
    return sort_column(dialect, field.name)


def _bound(field: Field, value: Value) -> Any:
    if field.is_json_path:
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


def compile_where(dialect: str, expression: Expression) -> sa.ColumnElement[bool]:
    """The SQL condition of a parsed ``where`` tree for a dialect (its name); its
    literals are bound parameters."""
    if isinstance(expression, Compare):
        operand = _operand(dialect, expression.field, expression.value)
        result: sa.ColumnElement[bool] = _OPERATORS[expression.op](
            operand, _bound(expression.field, expression.value)
        )
        return result
    if isinstance(expression, In):
        # x in (a, b) is x = a or x = b, null included; written out so that the SQL is
        # complete once compiled (SQLAlchemy's IN expands its list at execution).
        operand = _operand(dialect, expression.field, expression.values[0])
        return sa.or_(*(operand == _bound(expression.field, v) for v in expression.values))
    if isinstance(expression, IsNull):
        if expression.field.is_json_path:
            null = _parameter_is_null(dialect, expression.field)
            return sa.not_(null) if expression.negated else null
        column = b[expression.field.name]
        return column.is_not(None) if expression.negated else column.is_(None)
    if isinstance(expression, And):
        return sa.and_(*(compile_where(dialect, item) for item in expression.items))
    if isinstance(expression, Or):
        return sa.or_(*(compile_where(dialect, item) for item in expression.items))
    if isinstance(expression, Not):
        return sa.not_(compile_where(dialect, expression.item))
    raise TypeError(f"not a where expression: {expression!r}")


# --- the cursor ------------------------------------------------------------------


def encode_cursor(sort: SortKey, key: Any, backtest_id: str) -> str:
    if isinstance(key, dt.datetime):
        key = as_utc(key).isoformat()
    elif isinstance(key, dt.date):
        key = key.isoformat()
    return seal([str(sort), key, backtest_id])


_KEY_TYPES: dict[str, Any] = {"number": float | None, "text": str | None,
                              "date": dt.date | None, "time": dt.datetime | None}  # fmt: skip


def decode_cursor(cursor: str, sort: SortKey) -> tuple[Any, str]:
    """The (sort key, backtest id) a cursor continues after; it must be of this sort."""
    values = unseal(cursor)
    try:
        name, key, backtest_id = msgspec.convert(values, type=tuple[str, Any, str])
        key = msgspec.convert(key, _KEY_TYPES[FIELDS[sort.field]], strict=False)
    except msgspec.ValidationError as exc:
        raise BadCursor("cursor is not one of a search's") from exc
    if name != str(sort):
        raise BadCursor(f"cursor belongs to sort={name}, not sort={sort}")
    return key, backtest_id


# --- pages -----------------------------------------------------------------------


def filters(conn: sa.Connection, query: SearchQuery) -> list[sa.ColumnElement[bool]]:
    """Every condition of a search but its position: visibility, scope and ``where``."""
    conditions = [visible(conn, query.as_of)]
    for name in SCOPES:
        value = getattr(query, name)
        if value is not None:
            conditions.append(b[name] == value)
    if query.where is not None:
        conditions.append(compile_where(conn.dialect.name, query.where))
    return conditions


SCOPES = ("owner_id", "symbol", "strategy", "experiment")
Phase = Literal["keyed", "unkeyed"]


@dataclass(frozen=True)
class _Shape:
    """What one statement of a page is built from; equal shapes share one statement,
    compiled once. The ``where`` tree is keyed by its repr, which tells ``1.0`` from
    ``True`` (equal, with equal hashes, as Python values)."""

    dialect: str
    sort: SortKey
    where_key: str
    scopes: frozenset[str]
    phase: Phase
    after: bool  # a cursor bounds the phase
    where: Expression | None = field(default=None, compare=False, hash=False)


def _page_statement(
    shape: _Shape, columns: tuple[Any, ...], live: sa.ColumnElement[bool]
) -> sa.Select[Any]:
    key, ident = sort_column(shape.dialect, shape.sort.field), b.backtest_id
    desc = shape.sort.descending
    conditions = [live, *(b[name] == sa.bindparam(name) for name in sorted(shape.scopes))]
    if shape.where is not None:
        conditions.append(compile_where(shape.dialect, shape.where))
    after_id = sa.bindparam("after_id", type_=ident.type)
    order: tuple[Any, ...]
    if shape.phase == "keyed":
        conditions.append(key.is_not(None))
        if shape.after:
            bound = sa.tuple_(sa.bindparam("after_key", type_=b[shape.sort.field].type), after_id)
            position = sa.tuple_(key, ident)
            conditions.append(position < bound if desc else position > bound)
        order = (key.desc(), ident.desc()) if desc else (key.asc(), ident.asc())
    else:
        conditions.append(key.is_(None))
        if shape.after:
            conditions.append(ident < after_id if desc else ident > after_id)
        order = (ident.desc() if desc else ident.asc(),)
    statement = sa.select(*columns, key, ident).where(*conditions).order_by(*order)
    return statement.limit(sa.bindparam("limit"))


@functools.lru_cache(maxsize=256)
def _live_page_statement(shape: _Shape, columns: tuple[Any, ...]) -> sa.Select[Any]:
    return _page_statement(shape, columns, visible_now())


def _phase_rows(
    conn: sa.Connection, query: SearchQuery, columns: tuple[Any, ...], phase: Phase,
    params: dict[str, Any],
) -> list[Any]:  # fmt: skip
    shape = _Shape(
        conn.dialect.name, query.sort, repr(query.where),
        frozenset(name for name in SCOPES if getattr(query, name) is not None),
        phase, "after_id" in params, query.where,
    )  # fmt: skip
    scoped = {name: getattr(query, name) for name in shape.scopes}
    if query.as_of is None:  # the list as it is now: one statement per shape, built once
        return fetch_rows(conn, _live_page_statement(shape, columns), {**params, **scoped})
    statement = _page_statement(shape, columns, visible(conn, query.as_of))
    return list(conn.execute(statement, {**params, **scoped}).all())


def search_rows(
    conn: sa.Connection, columns: tuple[Any, ...], query: SearchQuery
) -> tuple[list[Any], str | None]:
    """``columns`` of one page of a search's rows and the next page's cursor: the rows
    with a sort key first, then, once they run out, those without one."""
    limit = max(1, min(query.limit, MAX_PAGE))
    after = decode_cursor(query.cursor, query.sort) if query.cursor else None
    rows: list[Any] = []
    if after is None or after[0] is not None:
        bound = {} if after is None else {"after_key": after[0], "after_id": after[1]}
        rows = _phase_rows(conn, query, columns, "keyed", {"limit": limit + 1, **bound})
    if len(rows) <= limit:
        bound = {} if after is None or after[0] is not None else {"after_id": after[1]}
        rows += _phase_rows(conn, query, columns, "unkeyed",
                            {"limit": limit + 1 - len(rows), **bound})  # fmt: skip
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(query.sort, last[-2], last[-1])
    return [tuple(row[: len(columns)]) for row in rows[:limit]], next_cursor


def search_json(conn: sa.Connection, query: SearchQuery, fields: Sequence[str] = ()) -> bytes:
    """A page of a search as the list's JSON (``{items, next_cursor}``), from the stored
    list items (with ``fields`` added: ``page_items``)."""
    columns = (b.backtest_id, b.list_item, *added_columns(tuple(fields)))
    rows, next_cursor = search_rows(conn, columns, query)
    items = page_items(rows, fields)
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
