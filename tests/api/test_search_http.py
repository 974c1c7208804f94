"""Search over HTTP (both stores): every page of any ``where`` and ``sort`` equals a
brute-force filter and sort in Python over the same backtests.

The oracle below evaluates the expressions it generates itself, with SQL's
three-valued logic written out from its definition (a comparison with a missing value
is unknown; ``not`` keeps unknown; ``and``/``or`` as Kleene's logic), and orders by
(key, backtest_id) with nulls last: it shares no code with the parser or the compiler.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Api
from tests.factories import backtest_document

Truth = bool | None
Row = dict[str, Any]


def sweep_documents() -> list[dict[str, Any]]:
    """24 variants whose fields, metrics and parameters vary, with nulls and absences."""
    docs = []
    for i in range(24):
        doc = backtest_document(
            days=20 + i,
            seed=i,
            trades=0 if i % 5 == 0 else 3,  # no trades: win_rate and profit_factor null
            symbol=["SPX", "BTCUSDT", "o'q"][i % 3],
            strategy=["sma_cross", "momentum"][i % 2],
            start=dt.date(2024, 1, 1) + dt.timedelta(days=i),
        )
        params: dict[str, Any] = {"slow": [30, 50.5][i % 2], "mode": ["a", "b", "o'q"][i % 3]}
        if i % 4:
            params["fast"] = [5, 10, 20][i % 3]
        if i % 3 == 0:
            params["flag"] = i % 2 == 0
        if i % 6 == 1:
            params["fast"] = "auto"  # a text where others have numbers
        params["nested"] = {"x": i / 4, "y": None if i % 2 else i}
        doc["parameters"] = params
        if i % 7 != 3:
            doc["experiment"] = ["grid-a", "grid-b"][i % 2]
        docs.append(doc)
    return docs


@dataclass
class Sweep:
    api: Api
    rows: list[Row]  # list items, each with its parameters under "_parameters"


@pytest.fixture
def sweep(api: Api) -> Sweep:
    rows = []
    for doc in sweep_documents():
        response = api.record(document=doc)
        assert response.status_code == 201, response.text
        backtest_id = response.json()["backtest_id"]
        item = api.get(f"/api/v1/backtests/{backtest_id}").json()
        rows.append({**item, "_parameters": doc["parameters"]})
    return Sweep(api, rows)


# --- the oracle: expressions that render themselves and evaluate themselves --------


@dataclass(frozen=True, repr=False)
class Expr:
    text: str
    truth: Callable[[Row], Truth]

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"


def field_value(row: Row, name: str) -> Any:
    if name.startswith("parameters."):
        value: Any = row["_parameters"]
        for part in name.split(".")[1:]:
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value
    if name in row["metrics"]:
        return row["metrics"][name]
    if name == "created_at":  # JSON drops zero microseconds: compare instants, not text
        return dt.datetime.fromisoformat(row[name])
    return row[name]


def _same_type(value: Any, literal: Any) -> bool:
    if isinstance(literal, bool):
        return isinstance(value, bool)
    if isinstance(literal, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _compare(value: Any, op: str, literal: Any) -> Truth:
    if value is None or not _same_type(value, literal):
        return None
    return {
        "=": value == literal,
        "!=": value != literal,
        "<": value < literal,
        "<=": value <= literal,
        ">": value > literal,
        ">=": value >= literal,
    }[op]


def render(literal: Any) -> str:
    if isinstance(literal, bool):
        return "true" if literal else "false"
    if isinstance(literal, float):
        return repr(literal)
    return "'" + str(literal).replace("'", "''") + "'"


NUMBER_FIELDS = ["sharpe", "max_drawdown", "win_rate", "num_trades", "profit_factor",
                 "total_return", "parameters.fast", "parameters.slow",
                 "parameters.nested.x"]  # fmt: skip
TEXT_FIELDS = {"symbol": ["SPX", "BTCUSDT", "o'q", "Z"],
               "strategy": ["sma_cross", "momentum"],
               "experiment": ["grid-a", "grid-b", "grid-c"],
               "parameters.mode": ["a", "b", "o'q"],
               "parameters.fast": ["auto", "5"]}  # fmt: skip
NULLABLE = ["win_rate", "profit_factor", "experiment", "parameters.fast", "parameters.flag",
            "parameters.nested.y", "parameters.nested", "parameters.none"]  # fmt: skip
OPS = ["=", "!=", "<", "<=", ">", ">="]
THRESHOLDS = [-1.0, -0.05, 0.0, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.5]


def _number_leaf() -> st.SearchStrategy[Expr]:
    def build(name: str, op: str, x: float) -> Expr:
        return Expr(f"{name} {op} {render(x)}", lambda r: _compare(field_value(r, name), op, x))

    return st.builds(build, st.sampled_from(NUMBER_FIELDS), st.sampled_from(OPS),
                     st.sampled_from(THRESHOLDS))  # fmt: skip


def _text_leaf() -> st.SearchStrategy[Expr]:
    def build(pair: tuple[str, str], op: str) -> Expr:
        name, x = pair
        return Expr(f"{name} {op} {render(x)}", lambda r: _compare(field_value(r, name), op, x))

    pairs = [(name, v) for name, values in TEXT_FIELDS.items() for v in values]
    return st.builds(build, st.sampled_from(pairs), st.sampled_from(OPS))


def _in_leaf() -> st.SearchStrategy[Expr]:
    def build(name: str, values: list[float]) -> Expr:
        def truth(row: Row) -> Truth:
            value = field_value(row, name)
            if value is None or not _same_type(value, 0.0):
                return None
            return any(value == v for v in values)

        return Expr(f"{name} in ({', '.join(map(render, values))})", truth)

    return st.builds(build, st.sampled_from(["parameters.fast", "num_trades", "parameters.slow"]),
                     st.lists(st.sampled_from([0.0, 3.0, 5.0, 10.0, 30.0, 7.0]), min_size=1,
                              max_size=3))  # fmt: skip


def _flag_leaf() -> st.SearchStrategy[Expr]:
    def build(op: str, x: bool) -> Expr:
        name = "parameters.flag"
        return Expr(f"{name} {op} {render(x)}", lambda r: _compare(field_value(r, name), op, x))

    return st.builds(build, st.sampled_from(["=", "!="]), st.booleans())


def _null_leaf() -> st.SearchStrategy[Expr]:
    def build(name: str, negated: bool) -> Expr:
        def truth(row: Row) -> Truth:
            return (field_value(row, name) is None) != negated

        return Expr(f"{name} is {'not ' if negated else ''}null", truth)

    return st.builds(build, st.sampled_from(NULLABLE), st.booleans())


def _date_leaf() -> st.SearchStrategy[Expr]:
    def build(op: str, day: int) -> Expr:
        x = (dt.date(2024, 1, 1) + dt.timedelta(days=day)).isoformat()
        return Expr(f"start_date {op} '{x}'",
                    lambda r: _compare(r["start_date"], op, x))  # fmt: skip

    return st.builds(build, st.sampled_from(OPS), st.integers(0, 25))


def kleene_not(value: Truth) -> Truth:
    return None if value is None else not value


def kleene_and(values: list[Truth]) -> Truth:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def kleene_or(values: list[Truth]) -> Truth:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _combine(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    def both(items: list[Expr], word: str) -> Expr:
        logic = kleene_and if word == "and" else kleene_or
        return Expr(
            "(" + f" {word} ".join(e.text for e in items) + ")",
            lambda r: logic([e.truth(r) for e in items]),
        )

    def negate(item: Expr) -> Expr:
        return Expr(f"not {item.text}", lambda r: kleene_not(item.truth(r)))

    return st.one_of(
        st.builds(both, st.lists(children, min_size=2, max_size=3), st.just("and")),
        st.builds(both, st.lists(children, min_size=2, max_size=3), st.just("or")),
        st.builds(negate, children),
    )


LEAVES = st.one_of(_number_leaf(), _text_leaf(), _in_leaf(), _flag_leaf(), _null_leaf(),
                   _date_leaf())  # fmt: skip
EXPRESSIONS = st.recursive(LEAVES, _combine, max_leaves=6)
SORTS = st.sampled_from(["sharpe", "max_drawdown", "win_rate", "profit_factor", "num_trades",
                         "symbol", "experiment", "start_date", "created_at",
                         "position"])  # fmt: skip


def expected_ids(rows: list[Row], where: Expr | None, sort: str, descending: bool) -> list[str]:
    chosen = [r for r in rows if where is None or where.truth(r) is True]
    keyed = [r for r in chosen if field_value(r, sort) is not None]
    unkeyed = [r for r in chosen if field_value(r, sort) is None]
    keyed.sort(key=lambda r: (field_value(r, sort), r["backtest_id"]), reverse=descending)
    unkeyed.sort(key=lambda r: r["backtest_id"], reverse=descending)
    return [r["backtest_id"] for r in keyed + unkeyed]


def search_all(api: Api, limit: int, cursor: str | None = None, **params: Any) -> list[str]:
    """Every page of a search (from ``cursor`` on), following next_cursor."""
    ids: list[str] = []
    for _ in range(100):
        page = api.get("/api/v1/backtests", limit=limit, **params,
                       **({"cursor": cursor} if cursor else {}))  # fmt: skip
        assert page.status_code == 200, page.text
        body = page.json()
        ids += [item["backtest_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("more pages than backtests")


# The sweep is recorded once per store and only read by the examples.
@settings(max_examples=45, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(where=EXPRESSIONS, sort=SORTS, descending=st.booleans(), limit=st.integers(1, 9))
def test_search_equals_a_brute_force_filter_and_sort(
    sweep: Sweep, where: Expr, sort: str, descending: bool, limit: int
) -> None:
    got = search_all(sweep.api, limit, where=where.text, sort=("-" if descending else "") + sort)
    assert got == expected_ids(sweep.rows, where, sort, descending), where.text


def _p(name: str) -> Callable[[Row], Any]:
    return lambda r: field_value(r, name)


# Each kind of comparison once, beside what it must select, written out by hand: a JSON
# null, an absent parameter, an object, text among numbers, unknown under not.
EXPLICIT: dict[str, Callable[[Row], Truth]] = {
    "parameters.nested.y is null": lambda r: _p("parameters.nested.y")(r) is None,
    "parameters.nested.y is not null": lambda r: _p("parameters.nested.y")(r) is not None,
    "parameters.none is null and parameters.flag = true": lambda r: _compare(
        _p("parameters.flag")(r), "=", True
    ),
    "parameters.nested is not null and symbol = 'SPX'": lambda r: r["symbol"] == "SPX",
    "parameters.fast = 'auto'": lambda r: _compare(_p("parameters.fast")(r), "=", "auto"),
    "parameters.fast >= 10": lambda r: _compare(_p("parameters.fast")(r), ">=", 10.0),
    "not parameters.fast >= 10": lambda r: kleene_not(
        _compare(_p("parameters.fast")(r), ">=", 10.0)
    ),
    "parameters.flag = false": lambda r: _compare(_p("parameters.flag")(r), "=", False),
    "parameters.flag != true": lambda r: _compare(_p("parameters.flag")(r), "!=", True),
    "parameters.slow = 50.5 or win_rate is null": lambda r: kleene_or(
        [_compare(_p("parameters.slow")(r), "=", 50.5), r["metrics"]["win_rate"] is None]
    ),
    "experiment is null": lambda r: r["experiment"] is None,
    "symbol > 'SPX'": lambda r: _compare(r["symbol"], ">", "SPX"),
    "symbol = 'o''q'": lambda r: r["symbol"] == "o'q",
    "start_date >= '2024-01-10' and start_date < '2024-01-20'": lambda r: (
        "2024-01-10" <= r["start_date"] < "2024-01-20"
    ),
    "not (win_rate > 0.5)": lambda r: kleene_not(_compare(r["metrics"]["win_rate"], ">", 0.5)),
}


def test_each_kind_of_comparison_equals_the_oracle(sweep: Sweep) -> None:
    for text, where in EXPLICIT.items():
        got = search_all(sweep.api, 50, where=text, sort="sharpe")
        want = expected_ids(sweep.rows, Expr(text, where), "sharpe", False)
        assert got == want, text
        assert 0 < len(want) < len(sweep.rows), f"{text} tells rows apart in this sweep"


def test_the_issue_example_and_an_experiment_filter(sweep: Sweep) -> None:
    text = "sharpe > -1 and max_drawdown >= -0.25 and parameters.fast in (5, 10, 20)"
    got = search_all(sweep.api, 4, where=text, sort="-sharpe", experiment="grid-a")
    rows = [r for r in sweep.rows if r["experiment"] == "grid-a"]
    where = Expr(text, lambda r: kleene_and([
        _compare(field_value(r, "sharpe"), ">", -1.0),
        _compare(field_value(r, "max_drawdown"), ">=", -0.25),
        field_value(r, "parameters.fast") in (5, 10, 20)
        and not isinstance(field_value(r, "parameters.fast"), str),
    ]))  # fmt: skip
    assert got == expected_ids(rows, where, "sharpe", True)
    assert got, "the example selects something in this sweep"


def test_sorting_alone_pages_every_backtest_once_with_nulls_last(sweep: Sweep) -> None:
    for sort in ("win_rate", "-win_rate"):
        got = search_all(sweep.api, 5, sort=sort)
        assert got == expected_ids(sweep.rows, None, sort.lstrip("-"), sort.startswith("-"))
        nulls = [r["backtest_id"] for r in sweep.rows if r["metrics"]["win_rate"] is None]
        assert nulls and set(got[-len(nulls) :]) == set(nulls)


def test_pages_stay_exact_while_backtests_are_recorded_between_them(sweep: Sweep) -> None:
    api = sweep.api
    first = api.get("/api/v1/backtests", limit=6, sort="-sharpe").json()
    # new variants that sort both before and after the cursor
    for seed in (100, 101, 102):
        assert api.record(document=backtest_document(days=25, seed=seed)).status_code == 201
    rest = search_all(api, 6, sort="-sharpe", cursor=first["next_cursor"])
    seen = [item["backtest_id"] for item in first["items"]] + rest
    assert len(seen) == len(set(seen)), "no backtest twice"
    original = expected_ids(sweep.rows, None, "sharpe", True)
    assert [i for i in seen if i in set(original)] == original, "none skipped, order kept"


def test_a_cursor_of_another_sort_or_a_forged_one_is_a_400(sweep: Sweep) -> None:
    cursor = sweep.api.get("/api/v1/backtests", limit=2, sort="-sharpe").json()["next_cursor"]
    wrong = sweep.api.get("/api/v1/backtests", sort="sharpe", cursor=cursor)
    assert wrong.status_code == 400 and "sort=-sharpe" in wrong.json()["detail"]
    forged = sweep.api.get("/api/v1/backtests", sort="sharpe", cursor="bm90LWEtY3Vyc29y")
    assert forged.status_code == 400


def test_hostile_text_is_a_value_never_sql(sweep: Sweep) -> None:
    api = sweep.api
    before = api.event_count()
    for where in ("symbol = '1; DROP TABLE events'",
                  "strategy = 'x'' OR 1=1 --'",
                  "parameters.mode = ''' OR ''1''=''1'"):  # fmt: skip
        response = api.get("/api/v1/backtests", where=where)
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []
    assert api.event_count() == before
    assert len(search_all(api, 50, sort="sharpe")) == len(sweep.rows)
    # a hostile path segment is refused by the grammar before it reaches SQL
    bad = api.get("/api/v1/backtests", where="parameters.a'b = 1")
    assert bad.status_code == 400 and bad.json()["offset"] == 12


def test_a_bad_expression_is_a_problem_naming_token_and_offset(sweep: Sweep) -> None:
    response = sweep.api.get("/api/v1/backtests", where="sharpe > 1 and sharp < 3")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["token"], problem["offset"]) == ("sharp", 15)
    assert "max_drawdown" in problem["detail"]
    unknown_sort = sweep.api.get("/api/v1/backtests", sort="-nope")
    assert unknown_sort.status_code == 400 and unknown_sort.json()["token"] == "nope"
    too_long = sweep.api.get("/api/v1/backtests", where="sharpe > 1 or " * 200 + "sharpe > 1")
    assert too_long.status_code == 400


def test_searching_as_of_a_position_and_for_an_auditor_across_users(sweep: Sweep) -> None:
    api = sweep.api
    bob = backtest_document(days=30, seed=7)
    bob["experiment"] = "grid-a"
    assert api.record("bob", bob).status_code == 201
    middle = sweep.rows[11]
    doomed = sweep.rows[3]["backtest_id"]
    deleted = api.client.delete(f"/api/v1/backtests/{doomed}", headers=api.auth("alice"))
    assert deleted.status_code == 204
    # as of the 12th record: the first 12 backtests, the deleted one still there
    past = search_all(api, 5, sort="sharpe", where="num_trades >= 0",
                      as_of=f"position:{middle['position']}")  # fmt: skip
    assert past == expected_ids(sweep.rows[:12], None, "sharpe", False)
    now = search_all(api, 5, sort="sharpe", where="num_trades >= 0")
    assert doomed not in now and len(now) == len(sweep.rows) - 1
    everyone = search_all(api, 7, experiment="grid-a", sort="-sharpe", who="carol")
    mine = search_all(api, 7, experiment="grid-a", sort="-sharpe")
    assert len(everyone) == len(mine) + 1
    [bobs] = search_all(api, 7, experiment="grid-a", who="bob")
    assert set(everyone) == {*mine, bobs}
    assert api.get("/api/v1/backtests", who="dave", sort="sharpe").status_code == 403
    assert api.client.get("/api/v1/backtests", params={"sort": "sharpe"}).status_code == 401


def test_fields_adds_the_recorded_parameters_and_provenance_to_each_item(api: Api) -> None:
    plain = backtest_document(days=5, trades=0)
    plain["parameters"] = {"big": 1e16, "name": "a", "nested": {"x": [1, 2]}}
    first = api.record(document=plain).json()["backtest_id"]
    traced = dict(backtest_document(days=5, trades=0, seed=2),
                  provenance={"code": {"commit": "d" * 40}})  # fmt: skip
    second = api.record(document=traced).json()["backtest_id"]
    for extra in ({}, {"where": "sharpe is not null or sharpe is null"}):  # both list paths
        page = api.get("/api/v1/backtests", fields="parameters,provenance", **extra).json()
        items = {item["backtest_id"]: item for item in page["items"]}
        assert items[first]["parameters"] == {"big": 1e16, "name": "a", "nested": {"x": [1, 2]}}
        assert items[first]["provenance"] is None
        assert items[second]["provenance"] == {"code": {"commit": "d" * 40}}
        assert items[second]["metrics"]["sharpe"] is not None  # the item as it was
        only = api.get("/api/v1/backtests", fields="parameters", **extra).json()["items"]
        assert all("provenance" not in item and "parameters" in item for item in only)
        assert all("parameters" not in item
                   for item in api.get("/api/v1/backtests", **extra).json()["items"])  # fmt: skip
    for bad in ("metrics", "parameters,", "", "parameters;provenance"):
        refused = api.get("/api/v1/backtests", fields=bad)
        assert refused.status_code == 400, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
