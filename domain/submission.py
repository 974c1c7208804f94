"""Parsing and validating a submitted backtest: bytes in, a clean submission out.

Every failure is an ``InvalidBacktest`` naming the offending field by JSON pointer.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import typing
import unicodedata
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
from msgspec import UNSET

from domain import bars
from domain.errors import FieldError, InvalidBacktest, MalformedBody
from domain.names import lookalike_reason
from domain.parameters import parameter_errors
from domain.results import BacktestSubmission, PeriodsPerYear
from domain.sanitize import MAX_DEPTH, pointer_token, sanitize

_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[(.*?)\]")


def msgspec_path_to_pointer(path: str) -> str:
    """Turn msgspec's ``$.daily_results[3].date`` into ``/daily_results/3/date``."""
    tokens = []
    for name, index, other in _PATH_TOKEN.findall(path.removeprefix("$")):
        raw = name or index or other.strip("'\"")
        tokens.append("/" + pointer_token(raw))
    return "".join(tokens)


# msgspec names a mapping's key `[...]` in its paths (``$.metrics[...]``).
_ELIDED_KEY = re.compile(r"^\$\.([A-Za-z_][A-Za-z0-9_]*)\[\.\.\.\]")
_FIELD_TYPES = {f.encode_name: f.type for f in msgspec.structs.fields(BacktestSubmission)}


def _pointer(path: str, document: Any) -> str:
    """The JSON pointer of a msgspec path, with the key msgspec leaves out of a
    top-level mapping (``metrics``) put back: the first key whose value fails that
    field's type (RFC 6901 escaping, so ``a/b`` is ``a~1b``)."""
    match = _ELIDED_KEY.match(path)
    if match is None or not isinstance(document, dict):
        return msgspec_path_to_pointer(path)
    name = match.group(1)
    mapping = document.get(name)
    field_type = _FIELD_TYPES.get(name)
    if typing.get_origin(field_type) is typing.Annotated:  # a described field: its type
        field_type = typing.get_args(field_type)[0]
    kinds = [t for t in typing.get_args(field_type) if t is not msgspec.UnsetType]
    if not isinstance(mapping, dict) or len(kinds) != 1:
        return msgspec_path_to_pointer(path)
    for key, value in mapping.items():
        try:
            msgspec.convert({key: value}, kinds[0])
        except msgspec.ValidationError:
            rest = msgspec_path_to_pointer("$" + path[match.end() :])
            return f"/{pointer_token(name)}/{pointer_token(key)}{rest}"
    return msgspec_path_to_pointer(path)


def validation_error(error: msgspec.ValidationError, document: Any = None) -> FieldError:
    message = str(error)
    reason, _, path = message.rpartition(" - at `")
    if not reason:
        reason, path = message, "$"
    pointer = _pointer(path.rstrip("`"), document)
    for prefix, short in (
        ("Object contains unknown field", "unknown field"),
        ("Object missing required field", "required field is missing"),
    ):
        if reason.startswith(prefix):
            field = reason.split("`")[1]
            return FieldError(f"{pointer}/{pointer_token(field)}", short)
    return FieldError(pointer, reason)


def decode_json(body: bytes | bytearray) -> Any:
    """Decode a JSON body, accepting the NaN/Infinity tokens Python clients send."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody([FieldError("", f"body is not valid UTF-8 ({exc.reason})")]) from exc
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise _too_deep() from exc
    except json.JSONDecodeError as exc:
        raise MalformedBody(
            [FieldError("", f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")]
        ) from exc


def _too_deep() -> MalformedBody:
    return MalformedBody([FieldError("", f"JSON nested deeper than {MAX_DEPTH} levels")])


_fast = msgspec.json.Decoder(BacktestSubmission)
# Bodies the fast path leaves to the careful one: an escaped NUL, or a digit run that
# may be an integer beyond 64 bits (both refused there, with the field named). Digits
# are mapped to "1" and a run looked for with a substring search: a regex scan of a
# 10-year body took most of the time spent parsing it.
_DIGITS_AS_ONES = bytes.maketrans(b"0123456789", b"1" * 10)
_LONG_DIGIT_RUN = b"1" * 20


def _careful_only(body: bytes | bytearray) -> bool:
    return b"\\u0000" in body or _LONG_DIGIT_RUN in body.translate(_DIGITS_AS_ONES)


def parse_submission(body: bytes | bytearray) -> tuple[BacktestSubmission, list[str]]:
    """Decode, sanitise and validate a body; return it with the sanitised pointers.

    Most bodies hold only finite numbers: msgspec decodes those straight into the
    submission. A body it cannot take (NaN/Infinity tokens, or any error) goes the
    careful way, which sanitises non-finite numbers and names every bad field."""
    if not _careful_only(body):
        try:
            submission = _fast.decode(body)
            sanitize(submission.parameters)  # depth limit, as the careful path applies
        except RecursionError as exc:  # msgspec's own stack: far deeper than MAX_DEPTH
            raise _too_deep() from exc
        except (msgspec.DecodeError, msgspec.ValidationError, FieldError, UnicodeDecodeError):
            pass
        else:
            errors = _semantic_errors(submission)
            if errors:
                raise InvalidBacktest(errors)
            return _normalised(submission), []
    return submission_from_document(decode_json(body))


def submission_from_document(document: Any) -> tuple[BacktestSubmission, list[str]]:
    """Sanitise and validate an already-decoded JSON document."""
    if not isinstance(document, dict):
        raise InvalidBacktest([FieldError("", "the backtest must be a JSON object")])
    try:
        clean, sanitized = sanitize(document)
    except FieldError as exc:
        raise InvalidBacktest([exc]) from exc
    try:
        submission = msgspec.convert(clean, BacktestSubmission)
    except msgspec.ValidationError as exc:
        raise InvalidBacktest([validation_error(exc, clean)]) from exc
    errors = list(_semantic_errors(submission))
    if errors:
        raise InvalidBacktest(errors)
    return _normalised(submission), sanitized


def _semantic_errors(sub: BacktestSubmission) -> list[FieldError]:
    errors: list[FieldError] = []
    if sub.initial_capital is None or not sub.initial_capital > 0:
        errors.append(FieldError("/initial_capital", "must be a number greater than 0"))
    if not sub.daily_results:
        errors.append(FieldError("/daily_results", "must hold at least one day"))
    keying = _keying_error(sub) or _outside_utc_calendar(sub)
    if keying is not None:
        errors.append(keying)
    else:
        for i in range(1, len(sub.daily_results)):
            if sub.daily_results[i].at <= sub.daily_results[i - 1].at:
                key = "time" if sub.daily_results[i].time is not UNSET else "date"
                errors.append(
                    FieldError(f"/daily_results/{i}/{key}", f"{key}s must be strictly increasing")
                )
                break
        if sub.periods_per_year is UNSET and sub.daily_results and not errors:
            stamps = [day.at for day in sub.daily_results]
            if bars.inferred_periods(stamps) is None:
                size = bars.bar_size(bars.spacing(stamps))
                errors.append(FieldError(
                    "/periods_per_year",
                    f"required: bars {size} apart on weekdays have no standard annualisation "
                    "(hourly US equities trade 6.5 hours a day: 1638)",
                ))  # fmt: skip
    if sub.monthly_results is not UNSET:
        months = [m.month for m in sub.monthly_results]
        for i in range(1, len(months)):
            if months[i] <= months[i - 1]:
                errors.append(
                    FieldError(f"/monthly_results/{i}/month", "months must be strictly increasing")
                )
                break
    ruined = _ruin_then_recovery(sub)
    if ruined is not None:
        errors.append(FieldError(f"/daily_results/{ruined}/equity",
                                 "equity at or below 0 followed by positive equity: a warm-up "
                                 "or a gap sent as 0 instead of null (NaN)"))  # fmt: skip
    errors.extend(parameter_errors(sub.parameters))
    experiment = sub.experiment_name
    reason = None if experiment is None else lookalike_reason(experiment)
    if reason is not None:
        errors.append(FieldError("/experiment", reason))
    for i, trade in enumerate(sub.trades):
        if trade.exit_time < trade.entry_time:
            errors.append(FieldError(f"/trades/{i}/exit_time", "must not be before entry_time"))
        if trade.quantity is not None and trade.quantity <= 0:
            errors.append(FieldError(f"/trades/{i}/quantity",
                                     "must be greater than 0: a size, the side gives the "
                                     "direction"))  # fmt: skip
    return errors


def _keying_error(sub: BacktestSubmission) -> FieldError | None:
    """Each row keyed by ``date`` or ``time``, and the whole series the same way."""
    days = sub.daily_results
    by_time = bool(days) and days[0].time is not UNSET
    for i, day in enumerate(days):
        has_date, has_time = day.date is not UNSET, day.time is not UNSET
        if has_date and has_time:
            return FieldError(f"/daily_results/{i}", "give a date or a time, not both")
        if not has_date and not has_time:
            return FieldError(
                f"/daily_results/{i}", "needs a date (YYYY-MM-DD) or a time (ISO 8601 with offset)"
            )
        if has_time != by_time:
            key, other = ("date", "time") if by_time else ("time", "date")
            return FieldError(
                f"/daily_results/{i}/{key}", f"the series is keyed by {other}: every row takes one"
            )
    return None


def _ruin_then_recovery(sub: BacktestSubmission) -> int | None:
    """The first day whose equity is at or below 0 while a later day's is positive: a
    series that is wiped out stays so, so such a day is an input mistake (its return
    would be −100 %, or undefined, and its successors' infinite)."""
    equities = [day.equity for day in sub.daily_results]
    last_positive = max((i for i, e in enumerate(equities) if e is not None and e > 0), default=-1)
    for i in range(last_positive):
        equity = equities[i]
        if equity is not None and equity <= 0:
            return i
    return None


def _normalised(sub: BacktestSubmission) -> BacktestSubmission:
    """Times are stored as UTC instants, whatever offset the client used, and an absent
    ``periods_per_year`` as the one the bars' spacing gives."""
    for day in sub.daily_results:
        if isinstance(day.time, dt.datetime):
            day.time = day.time.astimezone(dt.UTC)
    if sub.periods_per_year is UNSET:
        inferred = bars.inferred_periods([day.at for day in sub.daily_results])
        assert inferred is not None, "refused by _semantic_errors"
        sub.periods_per_year = _derived("/periods_per_year", inferred, PeriodsPerYear,
                                        "inferred from the bars' spacing")  # fmt: skip
    for trade in sub.trades:
        trade.entry_time = trade.entry_time.astimezone(dt.UTC)
        trade.exit_time = trade.exit_time.astimezone(dt.UTC)
    return sub


def _outside_utc_calendar(sub: BacktestSubmission) -> FieldError | None:
    """The first time whose offset takes it, in UTC, before year 1 or after 9999
    (which Python's datetime cannot hold). Only years 1 and 9999 can, so only those
    are converted."""
    for pointer, moment in _times(sub):
        if moment.year in (dt.MINYEAR, dt.MAXYEAR):
            try:
                moment.astimezone(dt.UTC)
            except OverflowError:
                return FieldError(pointer, "in UTC this time falls outside years 1 to 9999")
    return None


def _times(sub: BacktestSubmission) -> Iterator[tuple[str, dt.datetime]]:
    """Every time in a submission, with its JSON pointer."""
    for i, day in enumerate(sub.daily_results):
        if isinstance(day.time, dt.datetime):
            yield f"/daily_results/{i}/time", day.time
    for i, trade in enumerate(sub.trades):
        yield f"/trades/{i}/entry_time", trade.entry_time
        yield f"/trades/{i}/exit_time", trade.exit_time


def _derived(pointer: str, value: Any, kind: Any, how: str) -> Any:
    """A value the write path derived, checked against the limits a submitted one must
    keep, so a recorded event never holds what its command would refuse."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        reason = str(exc).partition(" - at `")[0]
        raise InvalidBacktest([FieldError(pointer, f"{value!r} {how}: {reason}; send it")]) from exc


MAX_REASON = 500


class ExclusionRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Why a backtest is a mistake or a test rather than a variant tried: 1 to 500
    characters, at least one of them visible, with no control or direction-changing
    characters."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REASON)]


def parse_exclusion_reason(body: bytes | bytearray) -> str:
    """The reason of an exclusion request (``{"reason": "..."}``), stripped and not
    empty; an ``InvalidBacktest`` naming ``/reason`` otherwise."""
    document = decode_json(body)
    try:
        clean, _ = sanitize(document)
        reason = msgspec.convert(clean, ExclusionRequest).reason
    except FieldError as exc:
        raise InvalidBacktest([exc]) from exc
    except msgspec.ValidationError as exc:
        raise InvalidBacktest([validation_error(exc, clean)]) from exc
    return clean_reason(reason)


def clean_reason(reason: str) -> str:
    """An exclusion's reason without surrounding blanks: 1 to ``MAX_REASON`` characters
    of text a store can keep, or an ``InvalidBacktest`` naming ``/reason``."""
    try:
        sanitize(reason, "/reason")
    except FieldError as exc:
        raise InvalidBacktest([exc]) from exc
    reason = reason.strip()
    if not 1 <= len(reason) <= MAX_REASON:
        raise InvalidBacktest(
            [FieldError("/reason", f"say why in 1 to {MAX_REASON} characters (not blank)")]
        )
    hidden = next((c for c in reason if _hides_text(c)), None)
    if hidden is not None:
        raise InvalidBacktest([FieldError(
            "/reason", f"U+{ord(hidden):04X} is a control or direction-changing character"
        )])  # fmt: skip
    if not any(unicodedata.category(c)[0] in "LNPS" for c in reason):
        raise InvalidBacktest([FieldError("/reason", "say why with at least one visible "
                                          "character")])  # fmt: skip
    return reason


# Joiners build emoji and scripts' ligatures: the only format characters a reason keeps.
_JOINERS = {"\u200c", "\u200d"}


def _hides_text(c: str) -> bool:
    """A control character (ESC, NUL...) or an invisible format one (a direction
    override such as U+202E, which makes a reason read other than it is stored)."""
    category = unicodedata.category(c)
    return (category == "Cc" and c not in "\t\n") or (category == "Cf" and c not in _JOINERS)
