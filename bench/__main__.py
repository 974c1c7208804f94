"""``make bench``: run every benchmark against a throwaway schema, print the table."""

from __future__ import annotations

from bench import record_and_export
from bench.harness import bench_schema, report


def main() -> None:
    with bench_schema() as url:
        results = record_and_export.run(url)
    report(results)


if __name__ == "__main__":
    main()
