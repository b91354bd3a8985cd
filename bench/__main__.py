"""Run the benchmarks: ``python -m bench [NAME ...] [--quick] [--postgres URL]``.

Each prints one table and appends a JSON line to ``bench/results.jsonl``.
Every figure is reported next to a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import time

from bench.common import Options, quiet_logs

NAMES = (
    "fire",
    "burst",
    "feed",
    "scale",
    "api",
    "sse",
    "read",
    "create",
    "import",
    "series",
    "pages",
)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(NAMES)}")
    parser.add_argument("--quick", action="store_true", help="a smaller run (CI)")
    parser.add_argument(
        "--postgres", metavar="URL", help="run on PostgreSQL (postgresql+asyncpg://...)"
    )
    args = parser.parse_args()
    unknown = set(args.names) - set(NAMES)
    if unknown:
        parser.error(
            f"unknown benchmark {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}"
        )
    options = Options(quick=args.quick, postgres=args.postgres)
    quiet_logs()
    for name in args.names or NAMES:
        # "import" is a keyword: its module is bench.imports
        module = importlib.import_module(f"bench.{'imports' if name == 'import' else name}")
        began = time.perf_counter()
        report = asyncio.run(module.run(options))
        report.notes.append(f"ran in {time.perf_counter() - began:.1f} s")
        report.print()
        report.save(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
