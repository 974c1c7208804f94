"""A sweep's Parquet table (both stores), read from the stored CSV cells and the recorded
parameters: text exactly as recorded where the CSV neutralised it, each parameter
column typed as its values are, in one batch or streamed in several."""

from __future__ import annotations

import io
import math
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import projections.experiments
from tests.api.conftest import Api
from tests.factories import backtest_document

URL = "/api/v1/experiments/grid/backtests"


def _record(api: Api, parameters: list[dict[str, Any]], **fields: list[str]) -> list[str]:
    ids = []
    for i, given in enumerate(parameters):
        doc = backtest_document(days=30 + i, seed=i)
        doc.update(experiment="grid", parameters=given)
        doc.update({name: values[i] for name, values in fields.items()})
        response = api.record(document=doc)
        assert response.status_code == 201, response.text
        ids.append(response.json()["backtest_id"])
    return ids


def _table(api: Api, **params: Any) -> pa.Table:
    response = api.get(f"{URL}.parquet", **params)
    assert response.status_code == 200, response.text
    return pq.read_table(io.BytesIO(response.content))


def test_text_the_csv_neutralised_is_in_the_parquet_table_as_recorded(api: Api) -> None:
    symbols = ["=SUM(A1)", "'plain", "SPX"]
    strategies = ['a, "quoted"\nsecond line', "O'Brien", "+cross"]
    modes = ["-short", "backtest", "@home"]
    ids = _record(api, [{"n": 1}, {"n": 2}, {"n": 3}], symbol=symbols, strategy=strategies,
                  test_mode=modes)  # fmt: skip
    table = _table(api)
    assert table.column("backtest_id").to_pylist() == ids
    assert table.column("symbol").to_pylist() == symbols
    assert table.column("strategy").to_pylist() == strategies
    assert table.column("test_mode").to_pylist() == modes
    assert table.column("experiment").to_pylist() == ["grid"] * 3
    csv = api.get(f"{URL}.csv").text.split("\r\n")
    # the CSV keeps a spreadsheet from running them: prefixed, so not as recorded
    assert csv[1].split(",")[2] == "'=SUM(A1)" and "'-short" in csv[1]


FLAT = [
    {"fast": 5, "stop": 0.5, "on": True, "name": "a"},
    {"fast": 10, "stop": 1, "on": False, "name": "=b"},
    {"fast": 2**62, "stop": None, "name": None, "extra": "x"},
]
NESTED = [
    {"a": {"b": 1}, "m": 1, "w": [1, 2]},
    {"a": None, "m": "x"},
    {"a": {}, "m": 2.5, "w": []},
]


@pytest.mark.parametrize("batch_rows", [None, 2], ids=["one batch", "streamed by two"])
def test_parameter_columns_are_typed_as_their_values(
    api: Api, batch_rows: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if batch_rows is not None:
        monkeypatch.setattr(projections.experiments, "BATCH_ROWS", batch_rows)
    _record(api, FLAT)
    table = _table(api)
    assert table.num_rows == 3
    assert pq.read_metadata(io.BytesIO(api.get(f"{URL}.parquet").content)).num_row_groups == (
        2 if batch_rows else 1)  # fmt: skip
    want = {
        "param.extra": (pa.string(), [None, None, "x"]),
        "param.fast": (pa.int64(), [5, 10, 2**62]),
        "param.name": (pa.string(), ["a", "=b", None]),
        "param.on": (pa.bool_(), [True, False, None]),
        "param.stop": (pa.float64(), [0.5, 1.0, None]),
    }
    got = {name: (table.schema.field(name).type, table.column(name).to_pylist())
           for name in table.column_names if name.startswith("param.")}  # fmt: skip
    assert got == want


@pytest.mark.parametrize("batch_rows", [None, 2], ids=["one batch", "streamed by two"])
def test_nested_mixed_and_listed_parameters_are_flattened_or_json_text(
    api: Api, batch_rows: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path that is an object in one row and null or {} in others, ints beside text,
    and lists: the columns the CSV has, typed as the reference says."""
    if batch_rows is not None:
        monkeypatch.setattr(projections.experiments, "BATCH_ROWS", batch_rows)
    _record(api, NESTED)
    table = _table(api)
    want = {
        "param.a": (pa.string(), [None, None, "{}"]),
        "param.a.b": (pa.int64(), [1, None, None]),
        "param.m": (pa.string(), ["1", "x", "2.5"]),
        "param.w": (pa.string(), ["[1,2]", None, "[]"]),
    }
    got = {name: (table.schema.field(name).type, table.column(name).to_pylist())
           for name in table.column_names if name.startswith("param.")}  # fmt: skip
    assert got == want
    csv_header = api.get(f"{URL}.csv").text.split("\r\n")[0].split(",")
    assert [c for c in csv_header if c.startswith("param.")] == list(want)


def test_the_parquet_metrics_are_the_list_items_figures_bit_for_bit(api: Api) -> None:
    ids = _record(api, FLAT)
    table = _table(api)
    page = api.get("/api/v1/backtests", experiment="grid", limit=10).json()["items"]
    items = {item["backtest_id"]: item for item in page}
    for row in table.to_pylist():
        item = items[row["backtest_id"]]
        for name, value in item["metrics"].items():
            got = row[name]
            assert (got is None and value is None) or got == value, name
            assert not (isinstance(got, float) and math.isnan(got)), name
        assert pd.Timestamp(row["created_at"]) == pd.Timestamp(item["created_at"])
    assert sorted(items) == sorted(ids)


def test_a_dotted_name_and_a_nested_path_across_rows_are_one_column(api: Api) -> None:
    """``{"a.b": 1}`` in one row and ``{"a": {"b": 2}}`` in another are the same path,
    as in the CSV: one column, whichever way each row spelled it."""
    _record(api, [{"a.b": 1}, {"a": {"b": 2}}, {"a.b": 3.5}])
    table = _table(api)
    params = [name for name in table.column_names if name.startswith("param.")]
    assert params == ["param.a.b"]
    assert table.schema.field("param.a.b").type == pa.float64()
    assert table.column("param.a.b").to_pylist() == [1.0, 2.0, 3.5]
