"""A sweep's table as a download: CSV (the rows the projector rendered, joined by the
one CSV writer's ``write_lines``) or Parquet (``pyarrow``, one row group per batch),
streamed on a connection of its own in flat memory.

Parquet columns are typed (``projections.sweep_arrow``): metrics float64
(``num_trades`` and ``position`` int64), ``created_at`` timestamp[us, UTC], dates
date32, text as strings; a parameter column is int64, float64, bool or string as its
values are, and string (JSON text for non-text values) when they mix.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from typing import Any, Literal

import msgspec
import sqlalchemy as sa

from infrastructure.database import snapshot
from projections.csv_export import csv_cell, write_lines
from projections.documents import MissingDocument
from projections.experiments import (
    CONVENTION_COLUMNS,
    FIXED_COLUMNS,
    PARAM_PREFIX,
    PROVENANCE_PREFIX,
    chosen_paths,
    convention_values,
    provenance_cells,
    provenance_columns,
    provenance_of,
    sweep_columns,
    sweep_paths,
    sweep_rows,
    text_originals,
    whole_sweep_rows,
)
from projections.search import SearchQuery
from projections.sweep_arrow import (
    RECORDED,
    Parameters,
    arrow_batch,
    parquet_schema,
)

SweepFormat = Literal["csv", "parquet"]
MEDIA_TYPES: dict[SweepFormat, str] = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}


def stream_sweep(
    engine: sa.Engine,
    query: SearchQuery,
    form: SweepFormat,
    limit: int | None = None,
    conventions: bool = False,
    columns: Sequence[str] | None = None,
) -> Iterator[bytes]:
    """The sweep table's bytes (its first ``limit`` rows, if given; the parameters
    ``columns`` names, if given), with the figures in backtesting.py's and quantstats'
    conventions after the metrics if asked, read
    on a connection held only while they are sent, in one snapshot: the rows are
    those the parameter columns were found in."""
    with snapshot(engine) as conn:
        if form == "csv":
            parts = _csv(conn, query, limit, conventions, columns)
            yield from (part.encode() for part in parts)
        else:
            yield from _parquet(conn, query, limit, conventions, columns)


def _csv(
    conn: sa.Connection,
    query: SearchQuery,
    limit: int | None,
    conventions: bool = False,
    columns: Sequence[str] | None = None,
) -> Iterator[str]:
    """The stored rows joined: each row's fixed cells, its conventions' cells if asked,
    then its cell (or an empty one) for every parameter any row of the sweep has."""
    whole = whole_sweep_rows(conn, query, limit, conventions)
    rows: Iterable[Any]
    if whole is not None:  # read once: the columns found in the rows themselves
        found = {path for row in whole if row[2] for path in _decode_cells(row[2])}
        paths = chosen_paths(found, columns)
        given = list(provenance_of(row[-1] for row in whole))
        rows = whole
    else:
        paths = sweep_paths(conn, query, limit, columns)
        given = list(provenance_columns(conn, query, limit))
        rows = sweep_rows(conn, query, limit, conventions, provenance=bool(given))
    extra = CONVENTION_COLUMNS if conventions else ()
    header = [*FIXED_COLUMNS, *extra, *(PARAM_PREFIX + path for path in paths),
              *(PROVENANCE_PREFIX + path for path in given)]  # fmt: skip

    def lines() -> Iterator[str]:
        for backtest_id, fixed, params, *stored in rows:
            if fixed is None:
                raise MissingDocument(backtest_id, "sweep row")
            if conventions:
                fixed += "," + ",".join(map(csv_cell, convention_values(stored[0])))
            if paths:
                cells = _decode_cells(params)
                fixed += "," + ",".join([cells.get(path, "") for path in paths])
            if given:
                fixed += "," + ",".join(map(csv_cell, provenance_cells(stored[-1], given)))
            yield fixed

    return write_lines(header, lines())


_decode_cells = msgspec.json.Decoder(dict[str, str]).decode


def _parquet(
    conn: sa.Connection,
    query: SearchQuery,
    limit: int | None,
    conventions: bool,
    columns: Sequence[str] | None,
) -> Iterator[bytes]:
    """The typed table, one row group per batch: a sweep that fits one batch is read
    once, its columns found in its own rows; a larger one is scanned for them first."""
    whole = whole_sweep_rows(conn, query, limit, conventions, recorded=True)
    parameters = None
    if whole is not None:
        parameters = Parameters([row[RECORDED] for row in whole])
        table = parameters.table(columns)
        table.provenance = provenance_of(row[-1] for row in whole)
        partitions: Iterable[Sequence[Any]] = [whole] if whole else []
    else:
        table = sweep_columns(conn, query, limit, columns)
        table.provenance = provenance_columns(conn, query, limit)
        streamed = sweep_rows(conn, query, limit, conventions, bool(table.provenance),
                              recorded=True)  # fmt: skip
        partitions = streamed.partitions()
    schema = parquet_schema(table, conventions)
    originals = partial(text_originals, conn)
    batches = (
        arrow_batch(rows, table, schema, conventions, originals, parameters) for rows in partitions
    )
    yield from _written(schema, batches)


class _Drain(io.RawIOBase):
    """A write-only file whose written bytes are taken out as they come."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.offset = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        self.offset += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.offset

    def take(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks = []
        return out


def _written(schema: Any, batches: Iterable[Any]) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # A dictionary only for the text that repeats: tried on every column, it made the
    # file larger and its writing 1.7 times slower (unique floats, unique ids).
    repeated = [field.name for field in schema
                if field.type == pa.string() and field.name != "backtest_id"]  # fmt: skip
    sink = _Drain()
    with pq.ParquetWriter(sink, schema, use_dictionary=repeated) as writer:
        for batch in batches:
            writer.write_table(batch)
            yield sink.take()
    yield sink.take()
