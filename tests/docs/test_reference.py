"""The generated reference is current, and nothing ships undocumented: every field of
the record body, every command and option of the CLI, every setting and every
operation of the HTTP API appears in it, each found here by walking the code
independently of the generator."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from api import reference
from api.cli.parser import build_parser
from domain.results import BacktestSubmission
from infrastructure.settings import Settings, documented

ROOT = Path(__file__).parents[2]
PAGES = ROOT / "docs" / "reference"


def page(name: str) -> str:
    return (PAGES / name).read_text()


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return reference.rendered()


def test_every_generated_page_is_current(rendered: dict[str, str]) -> None:
    stale = [name for name, text in rendered.items() if page(name) != text]
    assert stale == [], f"run `python -m api.reference`: {stale} differ from the code"


def _structs(kind: msgspec.inspect.Type) -> Iterator[msgspec.inspect.StructType]:
    """Every struct type reachable from ``kind``."""
    if isinstance(kind, msgspec.inspect.StructType):
        yield kind
        for field in kind.fields:
            yield from _structs(field.type)
    elif isinstance(kind, msgspec.inspect.UnionType):
        for option in kind.types:
            yield from _structs(option)
    elif isinstance(kind, msgspec.inspect.ListType | msgspec.inspect.DictType):
        yield from _structs(kind.item_type if hasattr(kind, "item_type") else kind.value_type)
    elif isinstance(kind, msgspec.inspect.Metadata):
        yield from _structs(kind.type)


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_every_field_of_the_record_body_is_documented_with_its_limits() -> None:
    text = page("record-body.md")
    structs = {s.cls.__name__: s for s in _structs(msgspec.inspect.type_info(BacktestSubmission))}
    assert {"BacktestSubmission", "DailyResult", "Trade", "MonthlyResult",
            "SubmittedProvenance", "SubmittedData"} <= set(structs)  # fmt: skip
    for name, struct in structs.items():
        section = _section(text, name)
        for field in struct.fields:
            row = re.search(rf"^\| `{re.escape(field.encode_name)}` \| (yes|no) \|(.*)$",
                            section, re.MULTILINE)  # fmt: skip
            assert row, f"{name}.{field.encode_name} is not in the reference"
            assert row.group(1) == ("yes" if field.required else "no"), field.encode_name
            assert not row.group(2).rstrip().endswith("|  |"), f"{field.encode_name}: no doc"
    # limits come from the types themselves
    body = _section(text, "BacktestSubmission")
    assert re.search(r"^\| `initial_capital` \| yes \| number \| > 0 \|", body, re.MULTILINE)
    assert re.search(r"^\| `symbol` \| yes \| string \| 1–64 characters \|", body, re.MULTILINE)


def _commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield parser
    for action in subparsers:
        for child in action.choices.values():
            yield from _commands(child)


def test_every_command_and_option_of_the_cli_is_documented() -> None:
    text = page("cli.md")
    commands = list(_commands(build_parser()))
    assert len(commands) >= 20
    for command in commands:
        section = _section(text, f"`{command.prog}`")
        for action in command._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help", "--database-url"):
                    assert f"`{option}" in section or f" {option}" in section, (
                        f"{command.prog} {option} is not in the reference"
                    )


def test_every_setting_and_every_variable_the_code_reads_is_documented() -> None:
    text = page("settings.md")
    assert len(documented()) == len(Settings.__dataclass_fields__)
    for setting in documented():
        assert re.search(rf"^\| `{setting.variable}` \| .+ \| .{{10,}} \|$", text, re.MULTILINE)
    read = set()
    for folder in ("api", "domain", "infrastructure", "projections", "backtest_ledger"):
        for source in (ROOT / folder).rglob("*.py"):
            read |= set(re.findall(r"BACKTEST_LEDGER_[A-Z_]*[A-Z]", source.read_text()))
    undocumented = {v for v in read if f"`{v}`" not in text}
    assert undocumented == set()


def test_every_operation_of_the_api_is_documented(rendered: dict[str, str]) -> None:
    document = reference.openapi_document()
    text = page("endpoints.md")
    for path, item in document["paths"].items():
        for method in ("get", "post", "delete"):
            if method in item:
                assert f"## `{method.upper()} {path}`" in text
