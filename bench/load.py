"""HTTP load generator in its own process: ``python -m bench.load URL [options]``.

Keeps ``--concurrency`` requests in flight for ``--seconds`` and prints one
JSON line: requests, seconds, requests per second, status counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter

import aiohttp


async def run(args: argparse.Namespace) -> dict[str, object]:
    headers = json.loads(args.headers) if args.headers else {}
    body = args.body.encode() if args.body else None
    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        # warm the connections up
        async with session.request(args.method, args.url, data=body, headers=headers) as r:
            await r.read()
        deadline = time.perf_counter() + args.seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                async with session.request(args.method, args.url, data=body, headers=headers) as r:
                    await r.read()
                    statuses[r.status] += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - began
    total = sum(statuses.values())
    return {
        "requests": total,
        "seconds": elapsed,
        "rps": total / elapsed,
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--headers")
    parser.add_argument("--body")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
