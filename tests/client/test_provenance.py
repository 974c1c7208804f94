"""The provenance the client fills in by itself, on real runs of each library: the data
fingerprint recomputed here byte by byte with ``struct`` from the documented rule, the
git state read from a repository made here with git itself, the strategy's source
hashed from its file's text, and each adapter's provenance round-tripped into the
detail, ``where``, the sweep export and compare, on both stores."""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import math
import platform
import struct
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtest_ledger import Ledger, OpenTradesLeftOut
from backtest_ledger.provenance import code_provenance, data_fingerprint
from tests.client.strategies import backtrader_sma_cross, sma_cross


def by_hand(frame: pd.DataFrame) -> str:
    """The module's documented rule, one value at a time with ``struct``."""
    digest = hashlib.sha256(b"backtest-ledger data v1\n")
    for stamp in frame.index:
        utc = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
        digest.update(struct.pack("<q", utc.value))
    for name in frame.columns:
        digest.update(str(name).encode("utf-8") + b"\x00")
        for value in frame[name]:
            number = float(value)
            digest.update(b"\x00\x00\x00\x00\x00\x00\xf8\x7f" if math.isnan(number)
                          else struct.pack("<d", number))  # fmt: skip
    return digest.hexdigest()


def test_the_data_fingerprint_follows_its_documented_rule(sp500: pd.DataFrame) -> None:
    frame = sp500.iloc[:300].copy()
    frame.iloc[5, 1] = np.nan  # a NaN of any payload hashes as the one quiet NaN
    found = data_fingerprint(frame)
    assert found == {"sha256": by_hand(frame), "rows": 300,
                     "first": f"{frame.index[0].date()}T00:00:00Z",
                     "last": f"{frame.index[-1].date()}T00:00:00Z"}  # fmt: skip
    # the same prices in another timezone, or as float32-exact values in another dtype,
    # are the same data; one changed price is not
    moved = frame.tz_localize("UTC").tz_convert("America/New_York")
    assert data_fingerprint(moved)["sha256"] == found["sha256"]
    changed = frame.copy()
    changed.iloc[100, 3] += 0.01
    assert data_fingerprint(changed)["sha256"] != found["sha256"]
    close = frame["Close"]
    assert data_fingerprint(close)["sha256"] == by_hand(close.to_frame(name=""))


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True)  # fmt: skip
    return done.stdout.strip()


def test_the_code_is_the_commit_of_the_scripts_repository_and_its_dirty_flag(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "desk"
    (repo / "strategies").mkdir(parents=True)
    script = repo / "strategies" / "run.py"
    script.write_text("print('sweep')\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=q@example.org", "-c", "user.name=q", "add", ".")
    _git(repo, "-c", "user.email=q@example.org", "-c", "user.name=q", "commit", "-qm", "one")
    _git(repo, "remote", "add", "origin", "https://quant:s3cret@git.example.org/desk.git")
    clean = code_provenance(script)
    assert clean == {"commit": _git(repo, "rev-parse", "HEAD"), "dirty": False,
                     "repository": "https://git.example.org/desk.git",
                     "entry_point": "strategies/run.py"}  # fmt: skip
    script.write_text("print('sweep, changed')\n")
    assert code_provenance(script)["dirty"] is True  # read again, not remembered
    (repo / "untracked.py").write_text("")
    outside = tmp_path / "loose.py"
    outside.write_text("")
    assert code_provenance(outside) == {}  # no repository: nothing is claimed


def _provenance(ledger: Ledger, backtest_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ledger.get(backtest_id)["provenance"]
    return found


def _environment(found: dict[str, Any], library: str) -> None:
    packages = found["environment"]["packages"]
    assert found["environment"]["python"] == platform.python_version()
    for name in ("numpy", "pandas", library):
        assert packages[name] == importlib.metadata.version(name)


def _code_of_this_checkout(found: dict[str, Any]) -> None:
    """Under pytest the running script is pytest's own or none: the repository is the
    working directory's, this checkout."""
    assert found["code"]["commit"] == _git(Path.cwd(), "rev-parse", "HEAD")
    dirty = _git(Path.cwd(), "status", "--porcelain", "--untracked-files=no") != ""
    assert found["code"]["dirty"] is dirty


def _round_trip(ledger: Ledger, ids: list[str], data: list[pd.DataFrame], sweep: str) -> None:
    """Two variants of one strategy on different data (the second's commit overridden):
    each found by ``where`` on its data's fingerprint, the sweep's export carrying both
    fingerprints, and compare flagging the data and the code as different."""
    prints = [by_hand(frame) for frame in data]
    for backtest_id, sha in zip(ids, prints, strict=True):
        [hit] = ledger.search(where=f"provenance.data.sha256 = '{sha}'")["backtest_id"]
        assert hit == backtest_id
    assert _provenance(ledger, ids[1])["code"]["commit"] == "f" * 40
    table = ledger.experiment(sweep).set_index("backtest_id")
    assert table.loc[ids, "provenance.data.sha256"].tolist() == prints
    assert table.loc[ids, "provenance.code.commit"].tolist()[1] == "f" * 40
    compared = ledger.compare(ids)["provenance"]
    assert compared["same_data"] is False and compared["same_code"] is False
    assert any(note.startswith("different data: sha256") for note in compared["notes"])


@pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofweek is deprecated")
def test_backtesting_py_records_its_strategy_source_and_its_data(
    ledger: Ledger, sp500: pd.DataFrame
) -> None:
    from backtesting import Backtest

    SmaCross = sma_cross()
    ohlc = sp500[["Open", "High", "Low", "Close", "Volume"]]
    backtest = Backtest(ohlc, SmaCross, cash=10_000, commission=0.002, finalize_trades=True)
    first = ledger.record_backtesting(backtest.run(n1=12), symbol="SPX", backtest=backtest,
                                      experiment="prov-bt")  # fmt: skip
    found = _provenance(ledger, first)
    source = inspect.getsource(SmaCross)
    assert "class SmaCross" in source
    assert found["code"]["source_sha256"] == hashlib.sha256(source.encode()).hexdigest()
    assert found["data"] == {"sha256": by_hand(ohlc), "rows": len(ohlc),
                             "first": f"{ohlc.index[0].date()}T00:00:00Z",
                             "last": f"{ohlc.index[-1].date()}T00:00:00Z"}  # fmt: skip
    _environment(found, "backtesting")
    _code_of_this_checkout(found)

    # a second variant on the last ten years only, and one with its commit overridden
    recent = ohlc.loc["2009":]
    other = Backtest(recent, SmaCross, cash=10_000, commission=0.002, finalize_trades=True)
    second = ledger.record_backtesting(other.run(n1=15), symbol="SPX", backtest=other,
                                       experiment="prov-bt",
                                       provenance={"code": {"commit": "f" * 40}})  # fmt: skip
    assert _provenance(ledger, second)["code"]["source_sha256"] == found["code"]["source_sha256"]
    _round_trip(ledger, [first, second], [ohlc, recent], "prov-bt")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # vectorbt's own, on pandas 3
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_vectorbt_records_the_fingerprint_of_its_close(ledger: Ledger, sp500: pd.DataFrame) -> None:
    import vectorbt as vbt

    def run(close: pd.Series) -> Any:
        fast, slow = vbt.MA.run(close, 10), vbt.MA.run(close, 30)
        return vbt.Portfolio.from_signals(
            close, fast.ma_crossed_above(slow), fast.ma_crossed_below(slow),
            init_cash=10_000, fees=0.001, freq="1D",
        )  # fmt: skip

    close = sp500["Adj Close"]
    portfolio, recent = run(close), close.loc["2009":]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OpenTradesLeftOut)  # tested in test_adapters
        backtest_id = ledger.record_vectorbt(portfolio, symbol="SPX", strategy="sma_cross",
                                             experiment="prov-vbt")  # fmt: skip
        second = ledger.record_vectorbt(run(recent), symbol="SPX", strategy="sma_cross",
                                        experiment="prov-vbt",
                                        provenance={"code": {"commit": "f" * 40}})  # fmt: skip
        quiet = ledger.record_vectorbt(portfolio, symbol="SPX", strategy="sma_cross",
                                       provenance=False)  # fmt: skip
    found = _provenance(ledger, backtest_id)
    assert found["data"]["sha256"] == by_hand(close.to_frame(name=""))
    assert found["data"]["rows"] == len(close)
    assert "source_sha256" not in found["code"]  # vectorbt has no strategy class
    _environment(found, "vectorbt")
    _code_of_this_checkout(found)
    assert ledger.get(quiet)["provenance"] is None
    _round_trip(ledger, [backtest_id, second], [close.to_frame(name=""),
                                                recent.to_frame(name="")], "prov-vbt")  # fmt: skip


def test_backtrader_records_its_strategy_source_and_its_feed(
    ledger: Ledger, sp500: pd.DataFrame
) -> None:
    import backtrader as bt

    SmaCross = backtrader_sma_cross()

    def run(data: pd.DataFrame) -> Any:
        cerebro = bt.Cerebro(tradehistory=True)
        cerebro.adddata(bt.feeds.PandasData(dataname=data))
        cerebro.addstrategy(SmaCross)
        cerebro.broker.setcash(10_000)
        return cerebro.run()[0]

    data, recent = sp500.loc["2010":], sp500.loc["2014":]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OpenTradesLeftOut)  # tested in test_adapters
        backtest_id = ledger.record_backtrader(run(data), symbol="SPX", experiment="prov-bt2")
        second = ledger.record_backtrader(run(recent), symbol="SPX", experiment="prov-bt2",
                                          provenance={"code": {"commit": "f" * 40}})  # fmt: skip
    found = _provenance(ledger, backtest_id)
    source = inspect.getsource(SmaCross)
    assert "class SmaCross(bt.Strategy)" in source  # the class's own text
    assert found["code"]["source_sha256"] == hashlib.sha256(source.encode()).hexdigest()
    assert found["data"]["sha256"] == by_hand(data)
    assert found["data"]["rows"] == len(data)
    _environment(found, "backtrader")
    _code_of_this_checkout(found)
    _round_trip(ledger, [backtest_id, second], [data, recent], "prov-bt2")


def test_plain_pandas_takes_data_and_record_many_reads_git_once(
    ledger: Ledger, sp500: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backtest_ledger import provenance

    close = sp500["Adj Close"].loc["2015":]
    returns = close.pct_change().dropna()
    calls = []
    real = provenance.code_provenance
    monkeypatch.setattr(provenance, "code_provenance", lambda *a: calls.append(1) or real(*a))
    items = [dict(returns=returns * k, symbol="SPX", strategy="scaled", data=close,
                  experiment="prov-many", parameters={"k": k}) for k in (1, 2, 3)]  # fmt: skip
    ids = ledger.record_many(items, workers=2, progress=False)
    assert len(calls) == 1
    for backtest_id in ids:
        assert _provenance(ledger, backtest_id)["data"]["sha256"] == by_hand(
            close.to_frame(name="")
        )
    export = ledger.experiment("prov-many")
    assert export["provenance.data.rows"].tolist() == [len(close)] * 3
