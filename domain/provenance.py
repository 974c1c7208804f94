"""What produced a backtest: which code, on which data, in which environment.

``Provenance`` is what a ``BacktestRecorded`` event holds (no limits, so an event stays
readable whatever limits a later version sets); ``SubmittedProvenance`` is the same
shape with the limits a new submission must keep. Every field is optional. The
service stores it as sent and reads it; only clients fill it (``backtest_ledger``).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

# One line of printable text: no control characters (they would garble the report
# page, a CSV cell or a log line).
_LINE = r"^[^\x00-\x1f\x7f]*\Z"
Text = Annotated[str, msgspec.Meta(max_length=500, pattern=_LINE)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=_LINE)]
Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}\Z")]
# A git object name: SHA-1 (40) or SHA-256 (64) hexadecimal, or an abbreviation of one.
Commit = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{7,64}\Z")]
MAX_PACKAGES = 200


def doc(text: str) -> msgspec.Meta:
    """A field's description, for the OpenAPI document and the reference."""
    return msgspec.Meta(description=text)


class _Part(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class CodeProvenance(_Part):
    repository: str | UnsetType = UNSET
    commit: str | UnsetType = UNSET
    dirty: Annotated[bool | UnsetType, doc("tracked files differed from the commit")] = UNSET
    source_sha256: str | UnsetType = UNSET
    entry_point: str | UnsetType = UNSET


class DataProvenance(_Part):
    sha256: str | UnsetType = UNSET
    rows: int | UnsetType = UNSET
    first: str | UnsetType = UNSET
    last: str | UnsetType = UNSET
    source: str | UnsetType = UNSET


class EnvironmentProvenance(_Part):
    python: str | UnsetType = UNSET
    packages: dict[str, str] | UnsetType = UNSET


class Provenance(_Part):
    code: CodeProvenance | UnsetType = UNSET
    data: DataProvenance | UnsetType = UNSET
    environment: EnvironmentProvenance | UnsetType = UNSET


class SubmittedCode(CodeProvenance):
    """Which code ran."""

    repository: Annotated[Text | UnsetType, doc("the repository's remote, no credentials")] = UNSET
    commit: Annotated[Commit | UnsetType, doc("the git commit checked out")] = UNSET
    source_sha256: Annotated[
        Sha256 | UnsetType, doc("sha256 of the strategy class's source text")
    ] = UNSET
    entry_point: Annotated[Text | UnsetType, doc("the script's path in the repository")] = UNSET


class SubmittedData(DataProvenance):
    """On which data: the client's fingerprint of it."""

    sha256: Annotated[Sha256 | UnsetType, doc("the data's fingerprint (see provenance)")] = UNSET
    rows: Annotated[
        Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)] | UnsetType, doc("rows of data")
    ] = UNSET
    first: Annotated[Short | UnsetType, doc("the first row's time")] = UNSET
    last: Annotated[Short | UnsetType, doc("the last row's time")] = UNSET
    source: Annotated[Text | UnsetType, doc("where it came from, in your words")] = UNSET


class SubmittedEnvironment(EnvironmentProvenance):
    """In which environment."""

    python: Annotated[Short | UnsetType, doc("Python's version")] = UNSET
    packages: Annotated[
        Annotated[dict[Short, Short], msgspec.Meta(max_length=MAX_PACKAGES)] | UnsetType,
        doc("package names and their versions"),
    ] = UNSET


class SubmittedProvenance(Provenance):
    """The ``provenance`` of a RecordBacktest body, with its limits."""

    code: Annotated[SubmittedCode | UnsetType, doc("which code ran")] = UNSET
    data: Annotated[SubmittedData | UnsetType, doc("on which data")] = UNSET
    environment: Annotated[SubmittedEnvironment | UnsetType, doc("in which environment")] = UNSET


def provenance_document(provenance: Provenance | UnsetType | None) -> dict[str, Any] | None:
    """The provenance as the JSON object the reads serve, or None when none was given."""
    if provenance is None or isinstance(provenance, UnsetType):
        return None
    document: dict[str, Any] = msgspec.to_builtins(provenance)
    return document


# The parts of a provenance that say the same code ran, and on the same data: two
# backtests whose values differ (both given) ran different code or data.
CODE_FINGERPRINT = ("repository", "commit", "dirty", "source_sha256")
DATA_FINGERPRINT = ("sha256",)


class ProvenanceCheck(msgspec.Struct, frozen=True):
    """Whether compared backtests ran on the same data and the same code, by their
    fingerprints (``DATA_FINGERPRINT``, ``CODE_FINGERPRINT``): null when fewer than two
    of them give one, false when two give different values."""

    same_data: bool | None
    same_code: bool | None
    notes: list[str]


def _given(part: msgspec.Struct | UnsetType, fields: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(part, UnsetType):
        return {}
    return {name: value for name in fields
            if not isinstance(value := getattr(part, name), UnsetType)}  # fmt: skip


def _agreement(fingerprints: list[dict[str, Any]], what: str, notes: list[str]) -> bool | None:
    """Whether the backtests (numbered from 1 in ``notes``) agree on every field two or
    more of them give; a note names each field on which they differ."""
    given = [n for n, print_ in enumerate(fingerprints, 1) if print_]
    if len(given) < 2:
        return None
    same = True
    for name in sorted({name for print_ in fingerprints for name in print_}):
        values = {n: print_[name] for n, print_ in enumerate(fingerprints, 1) if name in print_}
        if len(values) > 1 and len({repr(v) for v in values.values()}) > 1:
            same = False
            shown = ", ".join(f"#{n}: {str(v)[:12]}" for n, v in values.items())
            notes.append(f"different {what}: {name} differs ({shown})")
    return same


def check_provenance(provenances: list[Provenance | None]) -> ProvenanceCheck:
    """Whether backtests, in the order given, ran on the same data and code."""
    notes: list[str] = []
    data = [_given(p.data, DATA_FINGERPRINT) if p else {} for p in provenances]
    code = [_given(p.code, CODE_FINGERPRINT) if p else {} for p in provenances]
    return ProvenanceCheck(
        same_data=_agreement(data, "data", notes),
        same_code=_agreement(code, "code", notes),
        notes=notes,
    )
