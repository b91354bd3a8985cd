"""The benchmarks run from a fresh install and report (how fast is not checked here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]


#: every benchmark; ``read``, ``create`` and ``pages`` need wrk (Debian's package; CI installs
#: it, the bench installs it when it may), so without it the others still run here
NAMES = ["fire", "burst", "feed", "scale", "api", "sse", "read", "create", "pages"]
WITH_WRK = ("read", "create", "pages")


def test_quick_benchmarks_print_every_table(tmp_path: Path) -> None:
    names = NAMES if shutil.which("wrk") else [n for n in NAMES if n not in WITH_WRK]
    results = tmp_path / "results.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env["BENCH_RESULTS"] = str(results)
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", *names],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for name in names:
        assert f"== {name} (sqlite)" in run.stdout
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [entry["benchmark"] for entry in lines] == names
    for entry in lines:
        assert entry["rows"] and entry["quick"] is True
    fire = lines[0]["rows"]
    assert all(row["received"] == row["triggers"] for row in fire)  # nothing was lost
