"""Experiments over HTTP (both stores): the experiments resource, a sweep as one CSV or
Parquet table read back with pandas, and trials counted by experiment."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import kurtosis, norm, skew

from tests.api.conftest import Api
from tests.factories import backtest_document

METRICS = ["total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
           "calmar", "num_trades", "win_rate", "profit_factor", "beta", "alpha",
           "information_ratio", "tracking_error"]  # fmt: skip
LIST_FIELDS = ["symbol", "interval", "strategy", "test_mode", "market_type", "start_date",
               "end_date", "position", "experiment"]  # fmt: skip


def variant(i: int, experiment: str | None = "sma-grid") -> dict[str, Any]:
    doc = backtest_document(days=40 + i, seed=i, trades=0 if i == 2 else 3)
    doc["parameters"] = {
        "fast": [5, 10, 20][i % 3],
        "slow": 30 + i,
        "costs": {"fee": 0.001 * i, "model": "flat"},
        "windows": [i, i + 1],
        "label": "=cmd|' /C calc'!A0" if i == 1 else f"v{i}",
    }
    if i == 3:
        doc["parameters"]["extra"] = True  # only one variant has it
    if experiment:
        doc["experiment"] = experiment
    return doc


def record_sweep(api: Api, count: int, experiment: str = "sma-grid") -> list[str]:
    ids = []
    for i in range(count):
        response = api.record(document=variant(i, experiment))
        assert response.status_code == 201, response.text
        ids.append(response.json()["backtest_id"])
    return ids


def items_by_id(api: Api, **params: Any) -> dict[str, dict[str, Any]]:
    page = api.get("/api/v1/backtests", limit=500, **params).json()
    return {item["backtest_id"]: item for item in page["items"]}


def test_an_experiment_is_kept_in_the_event_the_list_and_the_detail(api: Api) -> None:
    [bid] = record_sweep(api, 1)
    assert api.get(f"/api/v1/backtests/{bid}").json()["experiment"] == "sma-grid"
    assert items_by_id(api)[bid]["experiment"] == "sma-grid"
    [event] = api.get(f"/api/v1/backtests/{bid}/history").json()["events"]
    assert event["data"]["submission"]["experiment"] == "sma-grid"
    plain = api.record(document=backtest_document()).json()["backtest_id"]
    assert api.get(f"/api/v1/backtests/{plain}").json()["experiment"] is None
    for bad in ("", "x" * 201, 5, "team/grid", "tab\there"):
        doc = variant(0)
        doc["experiment"] = bad
        refused = api.record(document=doc)
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["pointer"] == "/experiment"


def test_the_experiments_resource_counts_deleted_variants_as_trials(api: Api) -> None:
    ids = record_sweep(api, 5)
    record_sweep(api, 2, "other")
    api.record("bob", variant(9))  # bob's own sma-grid is not alice's
    deleted = ids[0]
    gone = api.client.delete(f"/api/v1/backtests/{deleted}", headers=api.auth("alice"))
    assert gone.status_code == 204
    rows = {row["name"]: row for row in api.get("/api/v1/experiments").json()}
    assert set(rows) == {"sma-grid", "other"}
    grid = rows["sma-grid"]
    assert (grid["live"], grid["trials"]) == (4, 5)
    live = items_by_id(api, experiment="sma-grid")
    assert set(live) == set(ids[1:])
    assert grid["best_sharpe"] == max(i["metrics"]["sharpe"] for i in live.values())
    created = [api.get(f"/api/v1/backtests/{i}/history").json()["events"][0]["recorded_at"]
               for i in ids]  # fmt: skip
    assert pd.Timestamp(grid["first_recorded_at"]) == pd.Timestamp(created[0])
    assert pd.Timestamp(grid["last_recorded_at"]) == pd.Timestamp(created[-1])
    everyone = api.get("/api/v1/experiments", who="carol").json()
    assert sorted((r["name"], r["trials"]) for r in everyone) == [
        ("other", 2), ("sma-grid", 1), ("sma-grid", 5)]  # fmt: skip
    assert api.get("/api/v1/experiments", who="dave").status_code == 403
    assert api.client.get("/api/v1/experiments").status_code == 401


def _expected_frame(api: Api, ids: list[str]) -> pd.DataFrame:
    """The sweep table built by hand from the list items and the submitted parameters."""
    items = items_by_id(api, experiment="sma-grid")
    rows = []
    for i, bid in enumerate(ids):
        item, params = items[bid], variant(i)["parameters"]
        rows.append({
            "backtest_id": bid, "created_at": pd.Timestamp(item["created_at"]),
            **{name: item[name] for name in LIST_FIELDS},
            **item["metrics"],
            "param.costs.fee": params["costs"]["fee"], "param.costs.model": "flat",
            "param.extra": params.get("extra"), "param.fast": params["fast"],
            "param.label": params["label"], "param.slow": params["slow"],
            "param.windows": f"[{i},{i + 1}]",
        })  # fmt: skip
    return pd.DataFrame(rows)


def test_a_sweep_as_csv_reads_back_with_pandas_as_the_list_items(api: Api) -> None:
    ids = record_sweep(api, 6)
    record_sweep(api, 1, "other")
    response = api.get("/api/v1/experiments/sma-grid/backtests.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="sma-grid_backtests.csv"' in response.headers["content-disposition"]
    assert b"\r\n" in response.content and b"\n" not in response.content.replace(b"\r\n", b"")
    got = pd.read_csv(io.BytesIO(response.content))
    want = _expected_frame(api, ids)
    assert list(got.columns) == [
        "backtest_id", "created_at", *LIST_FIELDS, *METRICS,
        "param.costs.fee", "param.costs.model", "param.extra", "param.fast", "param.label",
        "param.slow", "param.windows",
    ]  # fmt: skip
    assert list(got["backtest_id"]) == ids  # oldest first by default
    for name in [*METRICS, "param.fast", "param.slow", "param.costs.fee", "position"]:
        np.testing.assert_array_equal(got[name].to_numpy(float), want[name].to_numpy(float))
    assert math.isnan(got["win_rate"][2])  # no trades: null, an empty cell
    assert pd.to_datetime(got["created_at"]).tolist() == want["created_at"].tolist()
    assert got["param.label"][1] == "'=cmd|' /C calc'!A0"  # neutralised, not a formula
    assert list(got["param.extra"].isna()) == [True, True, True, False, True, True]
    assert got["param.windows"][4] == "[4,5]"


def test_a_sweep_as_parquet_is_typed_and_equals_the_csv(api: Api) -> None:
    ids = record_sweep(api, 6)
    response = api.get("/api/v1/experiments/sma-grid/backtests.parquet", sort="-sharpe")
    assert response.status_code == 200, response.text
    table = pq.read_table(io.BytesIO(response.content))
    schema = table.schema
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("sharpe").type == pa.float64()
    assert schema.field("symbol").type == pa.string()
    assert schema.field("param.fast").type == pa.int64()
    assert schema.field("param.costs.fee").type == pa.float64()
    assert schema.field("param.extra").type == pa.bool_()
    frame = pd.read_parquet(io.BytesIO(response.content))
    want = _expected_frame(api, ids).sort_values("sharpe", ascending=False)
    assert list(frame["backtest_id"]) == list(want["backtest_id"])
    for name in METRICS:
        np.testing.assert_array_equal(frame[name].to_numpy(float), want[name].to_numpy(float))
    assert list(frame["created_at"]) == list(want["created_at"])
    csv = pd.read_csv(io.BytesIO(api.get("/api/v1/experiments/sma-grid/backtests.csv",
                                         sort="-sharpe").content))  # fmt: skip
    assert list(csv["backtest_id"]) == list(frame["backtest_id"])
    assert list(csv.columns) == list(frame.columns)


def test_a_sweep_export_takes_where_and_sort_and_refuses_what_it_cannot_use(api: Api) -> None:
    record_sweep(api, 6)
    where = "parameters.fast = 10 or parameters.extra = true"
    response = api.get("/api/v1/experiments/sma-grid/backtests.csv", where=where, sort="position")
    frame = pd.read_csv(io.BytesIO(response.content))
    assert list(frame["param.fast"]) == [10, 5, 10]  # variants 1, 3 (extra) and 4
    assert list(frame["position"]) == sorted(frame["position"])
    empty = api.get("/api/v1/experiments/sma-grid/backtests.csv", where="sharpe > 1e6")
    assert empty.status_code == 200 and empty.text.count("\r\n") == 1  # the header alone
    bad = api.get("/api/v1/experiments/sma-grid/backtests.parquet", where="sharpe >")
    assert bad.status_code == 400 and bad.json()["offset"] == 8
    assert api.get("/api/v1/experiments/nope/backtests.csv").status_code == 404
    assert api.get("/api/v1/experiments/sma-grid/backtests.csv", who="bob").status_code == 404
    audited = api.get("/api/v1/experiments/sma-grid/backtests.csv", who="carol")
    assert audited.status_code == 200 and audited.text.count("\r\n") == 7


def test_a_parameter_path_deeper_than_any_recorded_one_is_a_400_before_any_byte(
    api: Api,
) -> None:
    """A path of 99 names was one argument past PostgreSQL's 100 of jsonb_extract_path:
    the list answered 503 and the exports a 200 that broke mid-stream."""
    doc = variant(0)
    node: dict[str, Any] = {"b": 1}
    for _ in range(63):  # as deep as a body may nest: reachable
        node = {"a": node}
    doc["parameters"] = node
    assert api.record(document=doc).status_code == 201
    deepest = "parameters." + "a." * 63 + "b = 1"
    found = api.get("/api/v1/backtests", where=deepest).json()["items"]
    assert len(found) == 1
    too_deep = "parameters." + "a." * 99 + "b = 1"
    for path in ("/api/v1/backtests", "/api/v1/experiments/sma-grid/backtests.csv",
                 "/api/v1/experiments/sma-grid/backtests.parquet"):  # fmt: skip
        answer = api.get(path, where=too_deep)
        assert answer.status_code == 400, (path, answer.status_code)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "more than 64 names" in answer.json()["detail"]


def test_a_sweep_wider_than_the_column_cap_is_shown_only_as_chosen(api: Api) -> None:
    """Three backtests of 400 parameters each, all different: 1,200 columns, past the
    1,000 an export or a page shows (wide sweeps once made 100,000-column tables)."""
    from tests.api.test_pages_http import HTML, sign_in

    for i in range(3):
        doc = variant(i)
        doc["parameters"] = {f"v{i}_{k}": k for k in range(400)}
        assert api.record(document=doc).status_code == 201
    url = "/api/v1/experiments/sma-grid/backtests"
    for form in ("csv", "parquet"):
        refused = api.get(f"{url}.{form}")
        assert refused.status_code == 400
        assert "1,200 distinct parameters" in refused.json()["detail"]
        assert "columns=" in refused.json()["detail"]
    chosen = api.get(f"{url}.csv", columns="v0_7,v2_399, v1_0")
    frame = pd.read_csv(io.BytesIO(chosen.content))
    assert [c for c in frame.columns if c.startswith("param.")] == [
        "param.v0_7", "param.v1_0", "param.v2_399"]  # fmt: skip
    assert frame["param.v2_399"].tolist()[2] == 399
    typed = pd.read_parquet(io.BytesIO(api.get(f"{url}.parquet", columns="v1_3").content))
    assert [c for c in typed.columns if c.startswith("param.")] == ["param.v1_3"]
    sign_in(api, "alice")
    page = api.client.get("/experiments/sma-grid", headers=HTML)
    assert page.status_code == 400 and "1,200 distinct parameters" in page.text
    page = api.client.get("/experiments/sma-grid", params={"columns": "v0_1,v1_1"}, headers=HTML)
    assert page.status_code == 200 and "v0_1" in page.text and "v0_2" not in page.text


def _psr(returns: np.ndarray, sr_star: float) -> float:
    sr = returns.mean() / returns.std(ddof=1)
    g3, g4 = skew(returns), kurtosis(returns, fisher=False)
    n = len(returns)
    return float(norm.cdf((sr - sr_star) * math.sqrt(n - 1)
                          / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)))  # fmt: skip


def test_trials_are_counted_by_experiment_with_a_deleted_variant(api: Api) -> None:
    ids = record_sweep(api, 4)
    # same user, symbol and strategy but no experiment: counted by the older rule only
    plain = [api.record(document=backtest_document(days=50, seed=s)).json()["backtest_id"]
             for s in (40, 41)]  # fmt: skip
    sharpes = {i: api.get(f"/api/v1/backtests/{i}").json()["metrics"]["sharpe"] for i in ids}
    gone = api.client.delete(f"/api/v1/backtests/{ids[1]}", headers=api.auth("alice"))
    assert gone.status_code == 204
    report = api.get(f"/api/v1/backtests/{ids[0]}/significance", samples=200).json()
    dsr = report["dsr"]
    assert (dsr["trials"], dsr["trials_rule"]) == (4, "experiment")
    # SR0, the Deflated Sharpe Ratio's expected maximum, from the per-period Sharpes of
    # the four variants, the deleted one included
    per_period = np.array([sharpes[i] / math.sqrt(365) for i in ids])
    gamma = 0.5772156649015329
    n = 4
    sr0 = math.sqrt(per_period.var(ddof=1)) * (
        (1 - gamma) * norm.ppf(1 - 1 / n) + gamma * norm.ppf(1 - 1 / (n * math.e))
    )
    assert dsr["sr0"] == pytest.approx(sr0, rel=1e-9)
    daily = pd.read_csv(io.BytesIO(api.get(f"/api/v1/backtests/{ids[0]}/daily.csv").content))
    returns = daily["return"].dropna().to_numpy()
    assert dsr["value"] == pytest.approx(_psr(returns, sr0), rel=1e-9)
    other = api.get(f"/api/v1/backtests/{plain[0]}/significance", samples=200).json()["dsr"]
    assert (other["trials"], other["trials_rule"]) == (2 + 4, "symbol_strategy")


def test_a_sweep_with_conventions_adds_each_librarys_figures_after_the_metrics(
    api: Api,
) -> None:
    ids = record_sweep(api, 4)
    plain = pd.read_csv(io.BytesIO(api.get("/api/v1/experiments/sma-grid/backtests.csv").content))
    assert not any(name.startswith(("backtesting_py.", "quantstats.")) for name in plain.columns)
    response = api.get("/api/v1/experiments/sma-grid/backtests.csv", conventions="true")
    assert response.status_code == 200, response.text
    got = pd.read_csv(io.BytesIO(response.content))
    added = list(got.columns[len(plain.columns) - 7 : -7])  # between metrics and params
    assert list(got.columns) == [*plain.columns[:-7], *added, *plain.columns[-7:]]
    assert added[:2] == ["backtesting_py.total_return", "backtesting_py.annual_return"]
    assert added[-1] == "quantstats.information_ratio" and len(added) == 21  # with greeks()
    parquet = pd.read_parquet(io.BytesIO(api.get("/api/v1/experiments/sma-grid/backtests.parquet",
                                                 conventions="true").content))  # fmt: skip
    for frame in (got, parquet):
        for backtest_id, row in zip(frame["backtest_id"], frame.to_dict("records"), strict=True):
            block = api.get(f"/api/v1/backtests/{backtest_id}").json()["conventions"]
            for column in added:
                library, figure = column.split(".")
                want = block[library][figure]
                assert math.isnan(row[column]) if want is None else row[column] == want, column
    assert sorted(parquet["backtest_id"]) == sorted(ids)
    bad = api.get("/api/v1/experiments/sma-grid/backtests.csv", conventions="perhaps")
    assert bad.status_code == 400
