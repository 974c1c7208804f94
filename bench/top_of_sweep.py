"""A sweep of about 2,000 variants read the ways a quant reads it: its top 50 by Sharpe
with their parameters (the list with ``fields=parameters``, and the export with
``limit=50``) against the same list without them, and the whole sweep as Parquet
against its CSV, each downloaded with curl in interleaved rounds."""

from __future__ import annotations

from bench.harness import (
    Result,
    at_most,
    bench_schema,
    download,
    interleaved_medians,
    scaled,
    served,
)
from bench.sweeps import BIG, populate
from infrastructure.database import create_engine, write_transaction
from infrastructure.migrate import upgrade
from infrastructure.users import Role, create_user

TOP = f"/api/v1/backtests?experiment={BIG}&sort=-sharpe&limit=50"


def run() -> list[Result]:
    with bench_schema() as url:
        engine = create_engine(url)
        upgrade(engine)
        with write_transaction(engine) as conn:
            user, api_key = create_user(conn, "quant", Role.USER)
        engine.dispose()
        populate(url, user, 0, scaled(6_667, 70))  # three in ten are the big sweep's
        with served(url) as (base, _pid):
            paths = {
                "top 50": TOP,
                "top 50 with parameters": f"{TOP}&fields=parameters",
                "top 50 exported": f"/api/v1/experiments/{BIG}/backtests.csv?sort=-sharpe&limit=50",
                "csv": f"/api/v1/experiments/{BIG}/backtests.csv",
                "parquet": f"/api/v1/experiments/{BIG}/backtests.parquet",
            }
            for path in paths.values():
                download(base, api_key, path)  # warm
            seconds = interleaved_medians(
                list(paths), lambda name: download(base, api_key, paths[name]).seconds, 7
            )
            rows = download(base, api_key, paths["csv"], "/tmp/top_of_sweep.csv")
    with open("/tmp/top_of_sweep.csv", "rb") as table:
        variants = sum(1 for _ in table) - 1
    ms = {name: 1000 * s for name, s in seconds.items()}
    return [
        at_most("top 50 of a sweep, with parameters", ms["top 50 with parameters"], "ms",
                "the same list without them", ms["top 50"], 1.3),
        at_most("top 50 of a sweep, exported (limit=50)", ms["top 50 exported"], "ms",
                "the whole sweep's CSV", ms["csv"], 1.0),
        at_most(f"sweep of {variants:,} as Parquet", ms["parquet"], "ms",
                f"its CSV ({rows.size / 1e6:.1f} MB)", ms["csv"], 1.0),
    ]  # fmt: skip
