"""A sweep's table as a download: CSV (the rows the projector rendered, joined by the
one CSV writer's ``write_lines``) or Parquet (``pyarrow``, one row group per batch),
streamed on a connection of its own in flat memory.

Parquet columns are typed: metrics float64 (``num_trades`` and ``position`` int64),
``created_at`` timestamp[us, UTC], dates date32, text as strings; a parameter column
is int64, float64, bool or string as its values are, and string (JSON text for
non-text values) when they mix.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import msgspec
import sqlalchemy as sa

from domain.metrics import METRIC_NAMES
from infrastructure.database import snapshot
from projections.csv_export import csv_cell, write_lines
from projections.documents import MissingDocument
from projections.experiments import (
    CONVENTION_COLUMNS,
    FIXED_COLUMNS,
    PARAM_PREFIX,
    PROVENANCE_PREFIX,
    SweepTable,
    chosen_paths,
    convention_values,
    flat_parameters,
    provenance_cells,
    provenance_columns,
    provenance_of,
    sweep_batches,
    sweep_columns,
    sweep_paths,
    sweep_rows,
    table_of,
    whole_sweep,
    whole_sweep_rows,
)
from projections.search import SearchQuery

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
            whole = whole_sweep(conn, query, limit, conventions)
            fixed = len(FIXED_COLUMNS)
            flats = None
            if whole is not None:  # read once: the columns found in the rows themselves
                flats = [flat_parameters(row[fixed]) for row in whole]
                table = table_of(flats, columns)
                table.provenance = provenance_of(row[-1] for row in whole)
            else:
                table = sweep_columns(conn, query, limit, columns)
                table.provenance = provenance_columns(conn, query, limit)
            batches = sweep_batches(conn, query, table, limit, conventions, whole, flats)
            yield from _parquet(parquet_schema(table, conventions), batches)


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


def parquet_schema(table: SweepTable, conventions: bool = False) -> Any:
    import pyarrow as pa

    kinds = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
             "text": pa.string(), "json": pa.string()}  # fmt: skip
    fixed = {
        "created_at": pa.timestamp("us", tz="UTC"),
        "start_date": pa.date32(),
        "end_date": pa.date32(),
        "position": pa.int64(),
        "num_trades": pa.int64(),
        **{name: pa.float64() for name in METRIC_NAMES if name != "num_trades"},
    }
    fields = [pa.field(name, fixed.get(name, pa.string())) for name in FIXED_COLUMNS]
    fields += [pa.field(name, pa.float64()) for name in CONVENTION_COLUMNS if conventions]
    fields += [
        pa.field(PARAM_PREFIX + path, kinds[kind]) for path, kind in table.parameters.items()
    ]
    fields += [
        pa.field(PROVENANCE_PREFIX + path, kinds[kind]) for path, kind in table.provenance.items()
    ]
    return pa.schema(fields)


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


def _parquet(schema: Any, batches: Iterator[list[list[Any]]]) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = _Drain()
    with pq.ParquetWriter(sink, schema) as writer:
        for columns in batches:
            writer.write_batch(pa.RecordBatch.from_arrays(
                [pa.array(values, type=f.type) for values, f in zip(columns, schema,
                                                                    strict=True)],
                schema=schema,
            ))  # fmt: skip
            yield sink.take()
    yield sink.take()
