"""The CSV contract, cell by cell: RFC 4180, shortest floats, nulls, formula guard."""

from __future__ import annotations

import datetime as dt

import pytest

from projections.csv_export import csv_cell, csv_column, write_csv


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        (0.1, "0.1"),
        (1e-300, "1e-300"),
        (100.0, "100.0"),
        (-0.0, "-0.0"),
        (7, "7"),
        (dt.date(2024, 2, 29), "2024-02-29"),
        (
            dt.datetime(2024, 1, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2024-01-01T08:00:00Z",
        ),
        ("long", "long"),
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ("two\r\nlines", '"two\r\nlines"'),
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1+2", "'+1+2"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("-1.5", "-1.5"),
        ("+3", "+3"),
    ],
)
def test_cells(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_floats_round_trip_exactly() -> None:
    for value in (0.1 + 0.2, 1 / 3, 2.0**-1074, 1.7976931348623157e308):
        assert float(csv_cell(value)) == value


def test_rows_end_in_crlf_and_chunks_join_to_the_whole() -> None:
    n = 20_000
    chunks = list(write_csv(["n", "x", "empty"], [range(n), [i / 7 for i in range(n)], [None] * n]))
    assert len(chunks) > 1
    text = "".join(chunks)
    lines = text.split("\r\n")
    assert lines[0] == "n,x,empty"
    assert lines[1] == f"0,{0.0!r},"
    assert lines[-1] == "" and len(lines) == 20_002
    assert "\n" not in text.replace("\r\n", "")


def test_every_part_ends_at_a_line_end() -> None:
    n = 50_000
    parts = list(write_csv(["x"], [[i / 3 for i in range(n)]]))
    assert len(parts) > 2
    assert all(part.endswith("\r\n") for part in parts)
    assert sum(part.count("\r\n") for part in parts) == n + 1


@pytest.mark.parametrize(
    "values",
    [
        [0.5, None, -0.0, 1e16, 5e-324],
        [0.5, 7, None],  # an int among floats is not a float: "7", not "7.0"
        [None, None],
        [dt.date(2024, 1, 2), None],
        ["=1+1", 2.5],
    ],
)
def test_a_column_formats_as_its_cells_do(values: list[object]) -> None:
    assert csv_column(values) == [csv_cell(v) for v in values]
