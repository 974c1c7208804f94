"""The where/sort language parses into the typed tree it promises, and names the token
and offset of every mistake."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.search import (
    MAX_DEPTH,
    MAX_LENGTH,
    And,
    BadExpression,
    Compare,
    Field,
    In,
    IsNull,
    Not,
    Or,
    SortKey,
    parse_sort,
    parse_where,
)


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    tree = parse_where("sharpe > 1 or not win_rate < 0.5 and symbol = 'SPX'")
    assert tree == Or(
        (
            Compare(Field("sharpe"), ">", 1.0),
            And(
                (
                    Not(Compare(Field("win_rate"), "<", 0.5)),
                    Compare(Field("symbol"), "=", "SPX"),
                )
            ),
        )
    )


def test_the_issue_example_parses_with_parameters_by_dotted_path() -> None:
    tree = parse_where(
        "sharpe > 1.2 and max_drawdown >= -0.25 and parameters.fast in (5, 10, 20) "
        "and symbol = 'SPX'"
    )
    assert tree == And(
        (
            Compare(Field("sharpe"), ">", 1.2),
            Compare(Field("max_drawdown"), ">=", -0.25),
            In(Field("parameters", ("fast",)), (5.0, 10.0, 20.0)),
            Compare(Field("symbol"), "=", "SPX"),
        )
    )


def test_keywords_are_case_blind_and_null_tests_and_booleans_parse() -> None:
    tree = parse_where("(parameters.a.b IS NOT NULL) AND win_rate is Null OR parameters.on = TRUE")
    assert tree == Or(
        (
            And((IsNull(Field("parameters", ("a", "b")), True), IsNull(Field("win_rate")))),
            Compare(Field("parameters", ("on",)), "=", True),
        )
    )


def test_field_names_are_case_sensitive() -> None:
    with pytest.raises(BadExpression) as caught:
        parse_where("Sharpe > 1")
    assert caught.value.token == "Sharpe" and caught.value.offset == 0


def test_quotes_double_inside_strings_and_dates_and_times_are_typed() -> None:
    assert parse_where("strategy = 'o''brien'") == Compare(Field("strategy"), "=", "o'brien")
    assert parse_where("start_date >= '2024-02-01'") == Compare(
        Field("start_date"), ">=", dt.date(2024, 2, 1)
    )
    assert parse_where("created_at < '2026-01-01T01:00:00+01:00'") == Compare(
        Field("created_at"), "<", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )


@pytest.mark.parametrize(
    ("text", "token", "offset"),
    [
        ("sharpe >> 1", ">", 8),
        ("sharpe > ", "end of expression", 9),
        ("nope = 1", "nope", 0),
        ("sharpe > 'high'", "'high'", 9),
        ("symbol = 3", "3", 9),
        ("sharpe = true", "true", 9),
        ("parameters.fast < true", "<", 16),
        ("start_date > 'yesterday'", "'yesterday'", 13),
        ("created_at > '2026-01-01'", "'2026-01-01'", 13),
        ("(sharpe > 1", "end of expression", 11),
        ("sharpe > 1 sortino > 1", "sortino", 11),
        ("symbol = 'SPX", "'SPX", 9),
        ("sharpe ; 1", ";", 7),
        ("parameters.fast in (1, 'a')", "parameters.fast", 0),
        ("parameters = 1", "parameters", 0),
        ("sharpe.x = 1", "sharpe.x", 0),
        ("sharpe > 1e999", "1e999", 9),
    ],
)
def test_a_mistake_names_its_token_and_offset(text: str, token: str, offset: int) -> None:
    with pytest.raises(BadExpression) as caught:
        parse_where(text)
    assert (caught.value.token, caught.value.offset) == (token, offset)
    assert f"offset {offset}" in str(caught.value)


def test_an_unknown_field_names_the_fields_that_exist() -> None:
    with pytest.raises(BadExpression) as caught:
        parse_where("sharp > 1")
    assert "sharpe" in caught.value.reason and "parameters.<dotted path>" in caught.value.reason


def test_nesting_deeper_than_the_limit_is_refused_and_the_limit_itself_parses() -> None:
    ok = "(" * (MAX_DEPTH - 1) + "sharpe > 1" + ")" * (MAX_DEPTH - 1)
    assert parse_where(ok) == Compare(Field("sharpe"), ">", 1.0)
    too_deep = "not " * (MAX_DEPTH + 1) + "sharpe > 1"
    with pytest.raises(BadExpression, match="nested deeper"):
        parse_where(too_deep)
    with pytest.raises(BadExpression, match="nested deeper"):
        parse_where("(" * (MAX_DEPTH + 2) + "sharpe > 1" + ")" * (MAX_DEPTH + 2))


def test_text_longer_than_the_limit_is_refused() -> None:
    clause = "sharpe > 1 or "
    text = clause * (MAX_LENGTH // len(clause)) + "sharpe > 1"
    assert len(text) > MAX_LENGTH
    with pytest.raises(BadExpression, match="longer than"):
        parse_where(text)


def test_sort_keys_take_a_minus_for_descending_and_name_the_fields() -> None:
    assert parse_sort("-sharpe") == SortKey("sharpe", True)
    assert parse_sort("symbol") == SortKey("symbol", False)
    with pytest.raises(BadExpression) as caught:
        parse_sort("-parameters.fast")
    assert caught.value.offset == 1 and "max_drawdown" in caught.value.reason
