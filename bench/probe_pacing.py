"""Probe the preparation of a fire burst: ``python -m bench.probe_pacing [--runs N]``.

(``--postgres URL`` as for the benchmarks.) Not a benchmark (no baseline,
nothing saved): a diagnosis for a late burst.
It runs ``bench.fire``'s service ``N`` times in this fresh process (the first
is cold) and prints, per run, one JSON line: when the burst's preparation
began and each claim of it was held in memory (seconds relative to the first
due time, negative = ahead), how long each claim took, the pacing's cost
estimate after the run, and the lateness. It patches module functions the
engine calls (``claims.claim_due``, ``claims.count_due``,
``PreparedMessages.hold``), so it also runs on the code before the engine
redesign (issue 13), which is how defect 4 was examined.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import bench.fire as fire
from bench.common import Options, percentile, quiet_logs, receiver_process, receiver_reset
from scheduler.http.keys import DISPATCHER
from scheduler.reminders import prepared
from scheduler.store import claims

_log: list[tuple[str, float, float]] = []  # (what, wall time, size or duration)
_apps: list[Any] = []
_first_due: list[float] = []


def _install() -> None:
    claim_due, count_due, hold = claims.claim_due, claims.count_due, prepared.PreparedMessages.hold
    create_app, seed_events = fire.create_app, fire.seed_events

    async def noting_claim(*args: Any, **kwargs: Any) -> Any:
        began = time.time()
        rows = await claim_due(*args, **kwargs)
        if rows:
            _log.append(("claim", began, time.time() - began))
        return rows

    async def noting_count(*args: Any, **kwargs: Any) -> int:
        backlog: int = await count_due(*args, **kwargs)
        _log.append(("count", time.time(), backlog))
        return backlog

    def noting_hold(self: Any, items: Any) -> None:
        if items:
            _log.append(("hold", time.time(), len(items)))
        hold(self, items)

    def noting_app(*args: Any, **kwargs: Any) -> Any:
        _apps.append(create_app(*args, **kwargs))
        return _apps[-1]

    async def noting_seed(db: Any, count: int, *, start_at: Any, **kwargs: Any) -> Any:
        _first_due.append(start_at(0).timestamp())
        return await seed_events(db, count, start_at=start_at, **kwargs)

    claims.claim_due = noting_claim  # type: ignore[assignment]
    claims.count_due = noting_count  # type: ignore[assignment]
    prepared.PreparedMessages.hold = noting_hold  # type: ignore[method-assign]
    fire.create_app = noting_app
    fire.seed_events = noting_seed


def _seconds_per_trigger() -> float | None:
    dispatcher = _apps[-1][DISPATCHER]
    if hasattr(dispatcher, "_seconds_per_trigger"):  # before the redesign
        return float(dispatcher._seconds_per_trigger)
    preparer = getattr(dispatcher, "preparer", None)
    return None if preparer is None else float(preparer.pacing.seconds_per_trigger)


async def _main(runs: int, options: Options) -> None:
    async with receiver_process() as receiver:
        for number in range(1, runs + 1):
            _log.clear()
            await receiver_reset(receiver)
            result = await fire._service(1000, receiver, options)
            lateness = result if isinstance(result, list) else result.lateness
            due = _first_due[-1]
            cost = _seconds_per_trigger()
            line = {
                "run": number,
                "backlog_counted": [[round(t - due, 3), n] for w, t, n in _log if w == "count"],
                "claims_began": [round(t - due, 3) for w, t, _ in _log if w == "claim"],
                "claims_ms": [round(d * 1000, 1) for w, _, d in _log if w == "claim"],
                "held": [[round(t - due, 3), n] for w, t, n in _log if w == "hold"],
                "estimate_ms_a_trigger": None if cost is None else round(cost * 1000, 3),
                "p50_ms": round(percentile(lateness, 50) * 1000, 2),
                "p99_ms": round(percentile(lateness, 99) * 1000, 2),
                "max_ms": round(max(lateness) * 1000, 2),
            }
            print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.probe_pacing")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL")
    args = parser.parse_args()
    quiet_logs()
    _install()
    asyncio.run(_main(args.runs, Options(postgres=args.postgres)))


if __name__ == "__main__":
    main()
