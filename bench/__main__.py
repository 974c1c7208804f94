"""``make bench``: run every benchmark against a throwaway schema, print the table."""

from __future__ import annotations

from bench import (
    appends,
    overfitting,
    rebuild,
    record_and_export,
    replication,
    sqlite_export,
    storage,
    superior_ability,
    sweeps,
    top_of_sweep,
)
from bench.harness import bench_schema, fresh_schema, report, schema_url


def main() -> None:
    with fresh_schema() as ours, fresh_schema() as library:
        results = appends.run(schema_url(ours), library)
    with bench_schema() as url:
        results += record_and_export.run(url)
    with bench_schema() as url:
        results += sweeps.run(url)
    with bench_schema() as url:
        results += storage.run(url)
    results += top_of_sweep.run()
    results += sqlite_export.run()
    results += rebuild.run()
    results += replication.run()  # a primary and a standby of its own
    results += overfitting.run()
    results += superior_ability.run()
    report(results)


if __name__ == "__main__":
    main()
