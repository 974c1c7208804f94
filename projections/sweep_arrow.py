"""A sweep's rows as Arrow columns, for its Parquet table.

The fixed columns are parsed by Arrow (in C++) from each row's stored CSV cells, where
reading the typed columns made a Python object of every cell (2,001 rows: 9 of 28
ms). The CSV writer changed only text that starts with a formula character or an
apostrophe (``csv_text``), so the rows whose text cells start with an apostrophe have
their text read again as recorded.

The parameters are decoded from their recorded JSON and laid out in columns by
Arrow's own type inference wherever it gives what ``table_of`` gives, value for value:
a column of ints, floats (or ints and floats), bools, text or nulls, at a path that is
a leaf in every row. Anything else (mixed kinds, lists, empty objects, a path that is
an object in one row and a value in another) is built in Python as before.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from domain.metrics import METRIC_NAMES
from domain.parameters import flatten
from projections.documents import MissingDocument
from projections.experiments import (
    CONVENTION_COLUMNS,
    FIXED_COLUMNS,
    PARAM_PREFIX,
    PROVENANCE_PREFIX,
    TEXT_COLUMNS,
    ParamKind,
    SweepTable,
    cell,
    chosen_paths,
    convention_values,
    provenance_cells,
    table_of,
)

# Where each column of a row ``sweep_rows(..., recorded=True)`` reads is.
ID, CELLS, RECORDED, CONVENTIONS = 0, 1, 2, 3
# The recorded text of some backtests' ``TEXT_COLUMNS``, by id (``text_originals``).
Originals = Callable[[Sequence[str]], dict[str, tuple[str, ...]]]


def _types() -> dict[ParamKind, Any]:
    import pyarrow as pa

    return {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
            "text": pa.string(), "json": pa.string()}  # fmt: skip


def parquet_schema(table: SweepTable, conventions: bool = False) -> Any:
    """The typed columns: metrics float64 (``num_trades`` and ``position`` int64),
    ``created_at`` timestamp[us, UTC], dates date32, text as strings, each parameter
    and provenance column by its kind."""
    import pyarrow as pa

    kinds = _types()
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
    fields += [pa.field(PARAM_PREFIX + p, kinds[k]) for p, k in table.parameters.items()]
    fields += [pa.field(PROVENANCE_PREFIX + p, kinds[k]) for p, k in table.provenance.items()]
    return pa.schema(fields)


_decode_parameters = msgspec.json.Decoder(dict[str, Any]).decode


class Parameters:
    """A batch's recorded parameters, decoded once, as Arrow columns by dotted path
    (those Arrow's inference could lay out), and flattened in Python only if asked."""

    def __init__(self, recorded: Sequence[str]) -> None:
        import pyarrow as pa

        self.decoded = [_decode_parameters(text) for text in recorded]
        self._flat: list[dict[str, Any]] | None = None
        self.columns: dict[str, Any] = {}
        # whether Arrow's columns are every flattened path, each with its kind: so when
        # no row nests an object (an empty one included: any makes a struct column)
        # and every column is of one kind of value
        self.complete = False
        if not self.decoded:
            self.complete = True
            return
        try:  # over every row (``Table.from_pylist`` would take the first row's keys)
            inferred = pa.Table.from_batches(
                [pa.RecordBatch.from_struct_array(pa.array(self.decoded))]
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return  # kinds mixed within a column: Python lays out every column
        unnested = not any(pa.types.is_struct(field.type) for field in inferred.schema)
        while any(pa.types.is_struct(field.type) and field.type.num_fields
                  for field in inferred.schema):  # fmt: skip
            inferred = inferred.flatten()
        names = inferred.column_names
        twice = {name for name, count in Counter(names).items() if count > 1}
        primitive = (pa.int64(), pa.float64(), pa.bool_(), pa.string(), pa.null())
        for name, column in zip(names, inferred.columns, strict=True):
            if name not in twice and column.type in primitive:
                self.columns[name] = column
        self.complete = unnested and len(self.columns) == len(names)

    @property
    def flat(self) -> list[dict[str, Any]]:
        if self._flat is None:
            self._flat = [flatten(parameters) for parameters in self.decoded]
        return self._flat

    def table(self, columns: Sequence[str] | None) -> SweepTable:
        """The parameter columns of these rows, as ``table_of`` finds them: from Arrow's
        types when they are ``complete``, else in Python."""
        if not self.complete:
            return table_of(self.flat, columns)
        kinds = {path: _kind(column.type) for path, column in self.columns.items()}
        return SweepTable({path: kinds[path] for path in chosen_paths(kinds, columns)})

    def array(self, path: str, kind: ParamKind) -> Any:
        """The column of ``path`` in ``kind``'s type."""
        import pyarrow as pa

        want = _types()[kind]
        column = self.columns.get(path)
        if column is not None and _fits(column.type, kind):
            return column.cast(want, safe=False)  # int to float rounds as float() does
        return pa.array([cell(kind, values.get(path)) for values in self.flat], want)


def _kind(arrow_type: Any) -> ParamKind:
    import pyarrow as pa

    found: dict[Any, ParamKind] = {pa.int64(): "int", pa.float64(): "float", pa.bool_(): "bool"}
    return found.get(arrow_type, "text")  # text, or nulls alone (``table_of``'s "text")


def _fits(arrow_type: Any, kind: ParamKind) -> bool:
    """Whether a column Arrow inferred holds ``cell(kind, value)`` of every value."""
    import pyarrow as pa

    if arrow_type == pa.null():
        return True
    if kind == "float" and arrow_type == pa.int64():
        return True
    return kind != "json" and _kind(arrow_type) == kind


def arrow_batch(
    rows: Sequence[Any],
    table: SweepTable,
    schema: Any,
    conventions: bool,
    originals: Originals,
    parameters: Parameters | None = None,
) -> Any:
    """Rows of ``sweep_rows(..., recorded=True)`` as a table of ``schema`` (one row group), with
    their ``Parameters`` when already decoded."""
    import pyarrow as pa

    for row in rows:
        if row[CELLS] is None:
            raise MissingDocument(row[ID], "sweep row")
    arrays = _fixed_columns(rows, schema, originals)
    if conventions:
        figures = [convention_values(row[CONVENTIONS]) for row in rows]
        arrays += [pa.array(values, pa.float64()) for values in zip(*figures, strict=True)]
    if parameters is None:
        parameters = Parameters([row[RECORDED] for row in rows])
    arrays += [parameters.array(path, kind) for path, kind in table.parameters.items()]
    if table.provenance:
        given = [provenance_cells(row[-1], table.provenance) for row in rows]
        for index, kind in enumerate(table.provenance.values()):
            arrays.append(pa.array([cell(kind, values[index]) for values in given],
                                   schema.field(len(arrays)).type))  # fmt: skip
    return pa.Table.from_arrays(arrays, schema=schema)


def _fixed_columns(rows: Sequence[Any], schema: Any, originals: Originals) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    text = "\n".join([row[CELLS] for row in rows])
    parsed = pa_csv.read_csv(
        io.BytesIO(text.encode()),
        read_options=pa_csv.ReadOptions(column_names=list(FIXED_COLUMNS)),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: schema.field(name).type for name in FIXED_COLUMNS},
            strings_can_be_null=False,  # a text cell is text: an empty one is ""
        ),
    )
    arrays = list(parsed.columns)
    ids = [row[ID] for row in rows]
    arrays[FIXED_COLUMNS.index("backtest_id")] = pa.array(ids, pa.string())
    if "'" not in text:
        return arrays
    texts = [FIXED_COLUMNS.index(name) for name in TEXT_COLUMNS]
    marked = [pc.indices_nonzero(pc.starts_with(arrays[at], "'")).to_pylist() for at in texts]
    changed = sorted({index for indices in marked for index in indices})
    if changed:  # perhaps neutralised by the CSV writer: the text as recorded
        recorded = originals([ids[index] for index in changed])
        for column, at in enumerate(texts):
            values = arrays[at].to_pylist()
            for index in changed:
                values[index] = recorded[ids[index]][column]
            arrays[at] = pa.array(values, pa.string())
    return arrays
