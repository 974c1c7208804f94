"""Experiments (sweeps): their summary rows, and a whole sweep as one table.

An experiment is an owner's name for a set of backtests. Its ``trials`` are every
backtest ever recorded in it, deleted ones included (a deletion does not undo a
trial), but not those the owner excluded as mistakes; ``live`` those still in the
list. The sweep table has one row per live
backtest: its list fields, every metric, then each parameter as a ``param.<dotted
path>`` column (nested objects flattened, lists and other values as JSON text). Each
backtest's row is rendered once by the projector (``sweep_cells``), so a CSV export
joins stored text, and the typed Parquet table parses it (a sweep of more than one
batch is read twice, both times in flat memory: once for the parameter columns and
their types, then batch after batch).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from domain.conventions import BacktestingPyFigures, Conventions, QuantstatsFigures
from domain.metrics import METRIC_NAMES
from domain.parameters import flatten
from infrastructure.database import as_utc
from infrastructure.tables import backtest_details, backtests
from projections.csv_export import csv_cell, csv_text
from projections.search import SearchQuery, filters, parameter_text, sort_column

b = backtests.c
BATCH_ROWS = 4096
LIST_FIELDS = ("symbol", "interval", "strategy", "test_mode", "market_type",
               "start_date", "end_date", "position", "experiment")  # fmt: skip
FIXED_COLUMNS = ("backtest_id", "created_at", *LIST_FIELDS, *METRIC_NAMES)
PARAM_PREFIX = "param."
# Asked for (``conventions=true``): the figures of ``domain.conventions``, after the
# metrics, named "<library>.<figure>".
CONVENTION_COLUMNS = tuple(
    f"{library}.{figure}"
    for library, figures in (("backtesting_py", BacktestingPyFigures),
                             ("quantstats", QuantstatsFigures))
    for figure in figures.__struct_fields__
)  # fmt: skip
# The provenance (``domain.provenance``), flattened like the parameters, as the last
# columns when any row of the sweep has one: "provenance.<dotted path>".
PROVENANCE_PREFIX = "provenance."
ParamKind = Literal["int", "float", "bool", "text", "json"]


class ExperimentRow(msgspec.Struct, frozen=True):
    """One experiment of an owner."""

    name: str
    owner_id: str
    live: int
    trials: int
    best_sharpe: float | None
    first_recorded_at: dt.datetime
    last_recorded_at: dt.datetime


class ExperimentNotFound(LookupError):
    """No experiment of this name that the caller may read."""

    def __init__(self, name: str) -> None:
        super().__init__(f"experiment {name!r} not found")
        self.name = name


def list_experiments(conn: sa.Connection, owner_id: str | None) -> list[ExperimentRow]:
    """The owner's experiments (``None``: everyone's), most recently used first."""
    live = b.deleted_position.is_(None)
    query = (
        sa.select(
            b.experiment,
            b.owner_id,
            sa.func.sum(sa.case((live, 1), else_=0)),
            sa.func.sum(sa.case((b.excluded_reason.is_(None), 1), else_=0)),
            sa.func.max(sa.case((live, b.sharpe))),
            sa.func.min(b.created_at),
            sa.func.max(b.created_at),
        )
        .where(b.experiment.is_not(None))
        .group_by(b.owner_id, b.experiment)
        .order_by(sa.func.max(b.created_at).desc(), b.experiment)
    )
    if owner_id is not None:
        query = query.where(b.owner_id == owner_id)
    return [
        ExperimentRow(name, owner, int(alive), int(trials), best, as_utc(first), as_utc(last))
        for name, owner, alive, trials, best, first, last in conn.execute(query)
    ]


def experiment_exists(conn: sa.Connection, name: str, owner_id: str | None) -> bool:
    query = sa.select(b.backtest_id).where(b.experiment == name).limit(1)
    if owner_id is not None:
        query = query.where(b.owner_id == owner_id)
    return conn.execute(query).first() is not None


# --- flattening parameters ---------------------------------------------------------


_TYPE_KINDS: dict[type, ParamKind | None] = {
    type(None): None, bool: "bool", int: "int", float: "float", str: "text"}  # fmt: skip


def _kind_of(value: Any) -> ParamKind | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "text"
    return "json"


def _merge(kind: ParamKind | None, seen: ParamKind | None) -> ParamKind | None:
    if kind is None or seen is None or kind == seen:
        return seen or kind
    if {kind, seen} == {"int", "float"}:
        return "float"
    return "json"


def cell(kind: ParamKind, value: Any) -> Any:
    """A parameter's value in its column: as it is, or as text in a mixed column."""
    if value is None or kind in ("int", "bool", "text"):
        return value
    if kind == "float":
        return float(value)
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


@dataclass
class SweepTable:
    """The parameter columns of a sweep table: each path's kind, and which vary."""

    parameters: dict[str, ParamKind] = field(default_factory=dict)
    varying: list[str] = field(default_factory=list)  # paths with more than one value
    # the provenance columns, for an export (``provenance_columns``; the page shows none)
    provenance: dict[str, ParamKind] = field(default_factory=dict)


def _statement(
    conn: sa.Connection, query: SearchQuery, limit: int | None, *columns: Any
) -> sa.Select[Any]:
    key = sort_column(conn.dialect.name, query.sort.field)
    order = key.desc() if query.sort.descending else key.asc()
    ident = b.backtest_id.desc() if query.sort.descending else b.backtest_id.asc()
    details = any(getattr(column, "table", None) is backtest_details for column in columns)
    source = _WITH_PARAMETERS if details else backtests
    statement = sa.select(*columns).select_from(source).where(*filters(conn, query))
    return statement.order_by(order.nulls_last(), ident).limit(limit)


# The parameters' text exactly as recorded (jsonb would rewrite 1e16 as an integer),
# decoded by msgspec, several times faster than the driver's json.loads of jsonb.
_WITH_PARAMETERS = backtests.join(
    backtest_details, backtest_details.c.backtest_id == backtests.c.backtest_id
)
_RECORDED = backtest_details.c.parameters
_decode_parameters = msgspec.json.Decoder(dict[str, Any]).decode


def _streamed(conn: sa.Connection, statement: sa.Select[Any]) -> Any:
    return conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(statement)


# A sweep of wide backtests (1,000 parameters each, each its own) made a 100,000-column
# table: +680 MB an export, 152 MB of HTML a page. More distinct parameters than this
# are shown only as chosen (``columns``).
MAX_SWEEP_COLUMNS = 1_000


class TooManyColumns(ValueError):
    """A sweep with more distinct parameters than an export or a page shows."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"the sweep has {found:,} distinct parameters, more than the "
            f"{MAX_SWEEP_COLUMNS:,} columns an export or a page shows: choose them with "
            "columns= (dotted paths, comma-separated)"
        )


def parse_columns(text: str | None) -> list[str] | None:
    """The parameter paths a ``columns=`` chooses (None: every one)."""
    if text is None or not text.strip():
        return None
    paths = [path.strip() for path in text.split(",") if path.strip()]
    if len(paths) > MAX_SWEEP_COLUMNS:
        raise TooManyColumns(len(paths))
    return paths


def chosen_paths(found: Iterable[str], columns: Sequence[str] | None) -> list[str]:
    """The parameter paths a sweep shows, sorted: those ``columns`` names (when given),
    else every one, or ``TooManyColumns``."""
    if columns is not None:
        wanted = set(columns)
        return sorted(path for path in found if path in wanted)
    paths = sorted(found)
    if len(paths) > MAX_SWEEP_COLUMNS:
        raise TooManyColumns(len(paths))
    return paths


def sweep_columns(
    conn: sa.Connection,
    query: SearchQuery,
    limit: int | None = None,
    columns: Sequence[str] | None = None,
) -> SweepTable:
    """The parameter columns of a sweep (those ``columns`` names), sorted by path, with
    the kind of each."""
    stored = _streamed(conn, _statement(conn, query, limit, _RECORDED))
    return table_of((flat_parameters(text) for (text,) in stored), columns)


def flat_parameters(recorded: str) -> dict[str, Any]:
    """A row's parameters, recorded as this text, by dotted path."""
    return flatten(_decode_parameters(recorded))


def table_of(flats: Iterable[dict[str, Any]], columns: Sequence[str] | None = None) -> SweepTable:
    """The parameter columns of rows with these parameters (``flat_parameters``)."""
    types: dict[str, set[type]] = {}
    first: dict[str, Any] = {}
    varying: set[str] = set()
    for flat in flats:
        for path, value in flat.items():
            seen = types.get(path)
            if seen is None:  # by type, not value by value: every row of a sweep passes
                types[path], first[path] = {type(value)}, value
                continue
            seen.add(type(value))
            if path not in varying and first[path] != value:
                varying.add(path)
    kinds: dict[str, ParamKind | None] = {}
    for path, seen in types.items():
        for kind in seen:
            kinds[path] = _merge(_TYPE_KINDS.get(kind, "json"), kinds.get(path))
    paths = chosen_paths(kinds, columns)
    return SweepTable({path: kinds[path] or "text" for path in paths},
                      [path for path in paths if path in varying])  # fmt: skip


_PROVENANCE = backtest_details.c.provenance


def provenance_columns(
    conn: sa.Connection, query: SearchQuery, limit: int | None = None
) -> dict[str, ParamKind]:
    """The provenance paths of a sweep's rows, sorted, with the kind of each (none
    when no row has a provenance: the table is then as it was before they existed)."""
    stored = _streamed(conn, _statement(conn, query, limit, _PROVENANCE))
    return provenance_of(provenance for (provenance,) in stored)


def provenance_of(recorded: Iterable[str | None]) -> dict[str, ParamKind]:
    """The provenance columns of rows whose provenance was recorded as these texts."""
    kinds: dict[str, ParamKind | None] = {}
    for stored in recorded:
        if stored is not None:
            for path, value in flatten(_decode_parameters(stored)).items():
                kinds[path] = _merge(_kind_of(value), kinds.get(path))
    return {path: kinds[path] or "text" for path in sorted(kinds)}


def first_batch(conn: sa.Connection, query: SearchQuery, limit: int | None,
                *columns: Any) -> list[tuple[Any, ...]] | None:  # fmt: skip
    """The ``columns`` of every row of a sweep when they fit one batch (a sweep of a
    few thousand variants is then read once, where a larger one is scanned for its
    columns first and streamed after); None when there are more."""
    fits = limit is not None and limit <= BATCH_ROWS  # all that is wanted fits
    rows = conn.execute(_statement(conn, query, limit if fits else BATCH_ROWS + 1, *columns)).all()
    return [tuple(row) for row in rows] if fits or len(rows) <= BATCH_ROWS else None


# The text columns whose cells a Parquet table takes back from the CSV writer
# (``projections.sweep_arrow``): it changed only text that starts with a formula
# character or an apostrophe, so a cell that starts with an apostrophe is read again.
TEXT_COLUMNS = ("symbol", "interval", "strategy", "test_mode", "market_type", "experiment")


def text_originals(conn: sa.Connection, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The ``TEXT_COLUMNS`` of these backtests, as recorded."""
    statement = sa.select(b.backtest_id, *(b[name] for name in TEXT_COLUMNS))
    rows = conn.execute(statement.where(b.backtest_id.in_(ids)))
    return {backtest_id: tuple(texts) for backtest_id, *texts in rows}


def provenance_cells(stored: str | None, paths: Iterable[str]) -> list[Any]:
    """A row's provenance values in the columns of ``paths`` (None where absent)."""
    flat = {} if stored is None else flatten(_decode_parameters(stored))
    return [flat.get(path) for path in paths]


def sweep_paths(
    conn: sa.Connection,
    query: SearchQuery,
    limit: int | None = None,
    columns: Sequence[str] | None = None,
) -> list[str]:
    """Every parameter path (or those ``columns`` names) of a sweep's stored rows,
    sorted: the keys of their stored
    cells, gathered by the database's own JSON functions (one scan that returns only
    the distinct paths, instead of every row's cells to decode here)."""
    rows = _statement(conn, query, limit, b.sweep_params).subquery()
    if conn.dialect.name == "postgresql":
        key = sa.func.jsonb_object_keys(sa.cast(rows.c.sweep_params, postgresql.JSONB))
        statement = sa.select(key).distinct()
    else:
        each = sa.func.json_each(rows.c.sweep_params).table_valued("key")
        statement = sa.select(each.c.key).select_from(rows).join(each, sa.true()).distinct()
    return chosen_paths((str(path) for (path,) in conn.execute(statement)), columns)


def sweep_rows(
    conn: sa.Connection,
    query: SearchQuery,
    limit: int | None = None,
    conventions: bool = False,
    provenance: bool = False,
    recorded: bool = False,
) -> Any:
    """(backtest_id, stored fixed cells, parameters) of a sweep's rows, streamed
    ``BATCH_ROWS`` at a time: the parameters' stored CSV cells (JSON), or with
    ``recorded`` their recorded JSON (typed values, for Parquet); then with
    ``conventions`` their stored conventions (JSON), then with ``provenance`` their
    stored provenance (JSON or None)."""
    columns = _row_columns(conventions, provenance, recorded)
    return _streamed(conn, _statement(conn, query, limit, *columns))


def _row_columns(conventions: bool, provenance: bool, recorded: bool) -> list[Any]:
    extra = [backtest_details.c.conventions] if conventions else []
    extra += [_PROVENANCE] if provenance else []
    return [b.backtest_id, b.sweep_row, _RECORDED if recorded else b.sweep_params, *extra]


def whole_sweep_rows(
    conn: sa.Connection,
    query: SearchQuery,
    limit: int | None,
    conventions: bool,
    recorded: bool = False,
) -> list[tuple[Any, ...]] | None:
    """Every row ``sweep_rows`` reads, with the provenance last, if they fit one batch
    (``first_batch``)."""
    return first_batch(conn, query, limit, *_row_columns(conventions, True, recorded))


def convention_values(stored: str | None) -> list[float | None]:
    """The figures of ``CONVENTION_COLUMNS`` from a backtest's stored conventions."""
    if stored is None:  # projected before revision 0011 and not filled since
        return [None] * len(CONVENTION_COLUMNS)
    block = _decode_conventions(stored)
    return [*msgspec.structs.astuple(block.backtesting_py),
            *msgspec.structs.astuple(block.quantstats)]  # fmt: skip


_decode_conventions = msgspec.json.Decoder(Conventions).decode


def sweep_cells(summary: dict[str, Any], parameters: dict[str, Any]) -> tuple[str, str]:
    """A backtest's row of its sweep's table, as the projector stores it: the CSV cells
    of ``FIXED_COLUMNS`` joined by commas, and ``{dotted path: CSV cell}`` as JSON (a
    list or an empty object as its JSON text)."""
    fixed = ",".join(csv_cell(as_utc(v) if name == "created_at" else v)
                     for name, v in ((n, summary[n]) for n in FIXED_COLUMNS))  # fmt: skip
    cells = {
        path: csv_cell(value) if _kind_of(value) != "json" else csv_text(
            msgspec.json.encode(value).decode())
        for path, value in flatten(parameters).items()
    }  # fmt: skip
    return fixed, msgspec.json.encode(cells).decode()


class GridCell(msgspec.Struct, frozen=True):
    """One cell of a metric over two parameters: the mean over its backtests."""

    x: str
    y: str
    mean: float | None
    count: int


def parameter_grid(
    conn: sa.Connection, query: SearchQuery, metric: str, x: str, y: str
) -> list[GridCell]:
    """The mean of ``metric`` per pair of values of parameters ``x`` and ``y`` (dotted
    paths) over the backtests a search selects, grouped in the database."""
    dialect = conn.dialect.name
    px, py = parameter_text(dialect, x.split(".")), parameter_text(dialect, y.split("."))
    statement = (
        sa.select(px, py, sa.func.avg(b[metric]), sa.func.count())
        .where(*filters(conn, query))
        .group_by(px, py)
    )
    return [
        GridCell("" if vx is None else str(vx), "" if vy is None else str(vy),
                 None if mean is None else float(mean), int(count))
        for vx, vy, mean, count in conn.execute(statement)
    ]  # fmt: skip
