"""Stored JSON documents are cut into parts of at most PART_BYTES, each valid UTF-8
on its own (they are stored as text), which join back to the document."""

from __future__ import annotations

import msgspec
import pytest

from projections.documents import PART_BYTES, json_parts


@pytest.mark.parametrize(
    "text",
    ["", "a" * 200_000, "€" * 70_000, "x" + "日" * 50_000, "😀" * 40_000 + "tail"],
    ids=["tiny", "ascii", "3-byte", "3-byte-offset", "4-byte"],
)
def test_parts_join_back_and_never_cut_a_character(text: str) -> None:
    document = msgspec.json.encode({"t": text})
    parts = list(json_parts([document]))
    assert parts == list(json_parts(document[i : i + 1000] for i in range(0, len(document), 1000)))
    assert "".join(parts).encode() == document
    sizes = [len(part.encode()) for part in parts]
    assert all(0 < size <= PART_BYTES for size in sizes)
    # Only the last part is short, by less than one character (4 bytes in UTF-8).
    assert all(size > PART_BYTES - 4 for size in sizes[:-1])
