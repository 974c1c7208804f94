"""The search language of the list: ``where=`` expressions and ``sort=`` keys.

An expression is parsed into a typed tree here, and only here; the read-model layer
compiles the tree to SQL with bound parameters, so no text of an expression ever
reaches SQL. Grammar (keywords in any case)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison
    comparison := field ( op literal
                        | "in" "(" literal ("," literal)* ")"
                        | "is" ["not"] "null" )
    op         := "=" | "!=" | "<" | "<=" | ">" | ">="
    field      := name | ("parameters" | "provenance") ("." name)+
    name       := [A-Za-z_][A-Za-z0-9_]*
    literal    := number | 'single-quoted text' ('' is a quote) | true | false

Comparisons follow SQL's three-valued logic: one with a missing value (a null metric,
an absent parameter, a parameter of another JSON type than the literal) is neither
true nor false, so neither ``sharpe > 1`` nor ``not (sharpe > 1)`` selects a backtest
without a Sharpe; ``is null`` does.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from dataclasses import dataclass
from typing import Literal

from domain.metrics import METRIC_NAMES
from domain.sanitize import MAX_DEPTH as MAX_DEPTH_OF_PARAMETERS

MAX_LENGTH = 2048
MAX_DEPTH = 32
MAX_IN_ITEMS = 1000

FieldKind = Literal["number", "text", "date", "time"]
# The fields of a list item a search may name, with how their values compare.
FIELDS: dict[str, FieldKind] = {
    "backtest_id": "text",
    "symbol": "text",
    "interval": "text",
    "strategy": "text",
    "test_mode": "text",
    "market_type": "text",
    "experiment": "text",
    "start_date": "date",
    "end_date": "date",
    "created_at": "time",
    "position": "number",
    **dict.fromkeys(METRIC_NAMES, "number"),
}
PARAMETERS = "parameters"
PROVENANCE = "provenance"
# Fields read by a dotted path into a JSON object: any path may be named (an absent one
# is null), as what a client records in them is its own.
JSON_FIELDS = (PARAMETERS, PROVENANCE)
Operator = Literal["=", "!=", "<", "<=", ">", ">="]
Value = float | str | bool | dt.date | dt.datetime


class BadExpression(ValueError):
    """A ``where`` or ``sort`` that cannot be used, naming the token and its offset."""

    def __init__(self, reason: str, token: str = "", offset: int = 0) -> None:
        where = f" at offset {offset}" + (f" ({token!r})" if token else "")
        super().__init__(reason + where)
        self.reason = reason
        self.token = token
        self.offset = offset


@dataclass(frozen=True)
class Field:
    """A list field (``path`` empty), or a parameter or a part of the provenance by its
    dotted path."""

    name: str
    path: tuple[str, ...] = ()

    @property
    def is_json_path(self) -> bool:
        return self.name in JSON_FIELDS

    def __str__(self) -> str:
        return ".".join((self.name, *self.path))


@dataclass(frozen=True)
class Compare:
    field: Field
    op: Operator
    value: Value


@dataclass(frozen=True)
class In:
    field: Field
    values: tuple[Value, ...]


@dataclass(frozen=True)
class IsNull:
    field: Field
    negated: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Expression, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expression, ...]


@dataclass(frozen=True)
class Not:
    item: Expression


Expression = Compare | In | IsNull | And | Or | Not


@dataclass(frozen=True)
class SortKey:
    """What a list is ordered by: a field of ``FIELDS``, ascending unless ``descending``;
    ties broken by backtest id in the same direction, nulls last either way."""

    field: str = "created_at"
    descending: bool = True

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.field


NEWEST_FIRST = SortKey()


def parse_sort(text: str) -> SortKey:
    """``sharpe`` or ``-sharpe`` (descending): any field of ``FIELDS``."""
    name = text.removeprefix("-")
    if name not in FIELDS:
        raise BadExpression(
            f"cannot sort by {name!r}; sortable fields: {', '.join(FIELDS)}",
            name,
            len(text) - len(name),
        )
    return SortKey(name, text.startswith("-"))


_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<string>'(?:[^']|'')*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),])""",
    re.VERBOSE | re.ASCII,  # full-width digits and NBSP are not digits and spaces here
)
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, keyword, op, punct, end
    text: str
    offset: int


def tokenize(text: str) -> list[Token]:
    if "\x00" in text:  # no store keeps a NUL in text: refused before it reaches one
        raise BadExpression("NUL characters are not allowed", "\\x00", text.index("\x00"))
    tokens = []
    offset = 0
    while offset < len(text):
        match = _TOKEN.match(text, offset)
        if match is None:
            if text[offset] == "'":
                raise BadExpression("unterminated string", text[offset : offset + 20], offset)
            raise BadExpression("unexpected character", text[offset], offset)
        kind = match.lastgroup or ""
        word = match.group()
        if kind == "name" and word.lower() in KEYWORDS:
            kind, word = "keyword", word.lower()
        if kind != "space":
            tokens.append(Token(kind, "!=" if word == "<>" else word, offset))
        offset = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


@functools.lru_cache(maxsize=512)
def parse_where(text: str) -> Expression:
    """The typed tree of a ``where`` expression, or ``BadExpression`` (a tree is
    immutable, so the trees of the expressions used again are kept)."""
    if len(text.encode()) > MAX_LENGTH:
        raise BadExpression(f"expression longer than {MAX_LENGTH} bytes", "", MAX_LENGTH)
    parser = _Parser(tokenize(text))
    expression = parser.expression(0)
    parser.expect_end()
    return expression


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def accept(self, kind: str, text: str | None = None) -> bool:
        if self.token.kind == kind and (text is None or self.token.text == text):
            self.at += 1
            return True
        return False

    def fail(self, reason: str, token: Token | None = None) -> BadExpression:
        token = token or self.token
        found = "end of expression" if token.kind == "end" else token.text
        return BadExpression(reason, found, token.offset)

    def expect_end(self) -> None:
        if self.token.kind != "end":
            raise self.fail("expected 'and', 'or' or the end of the expression")

    def expression(self, depth: int) -> Expression:
        if depth > MAX_DEPTH:
            raise self.fail(f"expression nested deeper than {MAX_DEPTH} levels")
        items = [self.term(depth)]
        while self.accept("keyword", "or"):
            items.append(self.term(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def term(self, depth: int) -> Expression:
        items = [self.factor(depth)]
        while self.accept("keyword", "and"):
            items.append(self.factor(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def factor(self, depth: int) -> Expression:
        if depth > MAX_DEPTH:
            raise self.fail(f"expression nested deeper than {MAX_DEPTH} levels")
        if self.accept("keyword", "not"):
            return Not(self.factor(depth + 1))
        if self.accept("punct", "("):
            inner = self.expression(depth + 1)
            if not self.accept("punct", ")"):
                raise self.fail("expected ')'")
            return inner
        return self.comparison()

    def comparison(self) -> Expression:
        field_token = self.token
        field = self.field()
        if self.accept("keyword", "is"):
            negated = self.accept("keyword", "not")
            if not self.accept("keyword", "null"):
                raise self.fail("expected 'null' after 'is'")
            return IsNull(field, negated)
        if self.accept("keyword", "in"):
            if not self.accept("punct", "("):
                raise self.fail("expected '(' after 'in'")
            values = [self.literal(field)]
            while self.accept("punct", ","):
                if len(values) >= MAX_IN_ITEMS:
                    raise self.fail(f"more than {MAX_IN_ITEMS} values in one 'in'")
                values.append(self.literal(field))
            if not self.accept("punct", ")"):
                raise self.fail("expected ',' or ')'")
            if field.is_json_path and len({type(v) for v in values}) > 1:
                raise self.fail("the values of one 'in' must be of one type", field_token)
            return In(field, tuple(values))
        op = self.token
        if op.kind != "op":
            raise self.fail("expected a comparison (= != < <= > >=), 'in' or 'is'")
        self.take()
        value = self.literal(field)
        if isinstance(value, bool) and op.text not in ("=", "!="):
            raise self.fail("true and false compare only with = and !=", op)
        return Compare(field, op.text, value)  # type: ignore[arg-type]

    def field(self) -> Field:
        token = self.token
        if token.kind != "name":
            raise self.fail("expected a field name")
        self.take()
        name, *path = token.text.split(".")
        if name in JSON_FIELDS and path:
            if len(path) > MAX_DEPTH_OF_PARAMETERS:
                raise self.fail(
                    f"parameter path of more than {MAX_DEPTH_OF_PARAMETERS} names"
                    " (no recorded parameter is nested deeper)",
                    token,
                )
            return Field(name, tuple(path))
        if name in FIELDS and not path:
            return Field(name)
        raise self.fail(
            f"unknown field; fields: {', '.join(FIELDS)}, parameters.<dotted path> or "
            "provenance.<dotted path>",
            token,
        )

    def literal(self, field: Field) -> Value:
        token = self.take()
        value: Value
        if token.kind == "number":
            number = float(token.text)
            if not math.isfinite(number):
                raise self.fail("number out of range", token)
            value = number
        elif token.kind == "string":
            value = token.text[1:-1].replace("''", "'")
        elif token.kind == "keyword" and token.text in ("true", "false"):
            value = token.text == "true"
        else:
            raise self.fail("expected a number, a 'quoted string', true or false", token)
        return value if field.is_json_path else _typed(FIELDS[field.name], value, field, token)


def _typed(kind: FieldKind, value: Value, field: Field, token: Token) -> Value:
    """A literal checked (and converted) for the list field it is compared with."""
    if kind == "number":
        if isinstance(value, float):
            return value
        raise BadExpression(f"{field} is a number: compare it with a number", token.text,
                            token.offset)  # fmt: skip
    if not isinstance(value, str):
        raise BadExpression(f"{field} is text: compare it with a 'quoted string'", token.text,
                            token.offset)  # fmt: skip
    if kind == "date":
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise BadExpression(f"{field} is a date: write it 'YYYY-MM-DD'", token.text,
                                token.offset) from None  # fmt: skip
    if kind == "time":
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise BadExpression(f"{field} is a time: write it ISO 8601 with an offset",
                                token.text, token.offset)  # fmt: skip
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError:
            raise BadExpression(f"{field}: outside the years 1 to 9999 in UTC", token.text,
                                token.offset) from None  # fmt: skip
    return value
