"""The benchmarks run from a fresh install and report (how fast is not checked here).

One test per benchmark, so the suite's workers share them out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import NAMES

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]

#: ``read``, ``create`` and ``pages`` need wrk (Debian's package; CI installs it, the
#: bench installs it when it may), so without it the others still run here
WITH_WRK = ("read", "create", "pages")


@pytest.mark.parametrize("name", NAMES)
def test_quick_benchmark_prints_its_table(tmp_path: Path, name: str) -> None:
    if name in WITH_WRK and not shutil.which("wrk"):
        pytest.skip(f"bench {name} needs wrk (apt-get install wrk; CI installs it)")
    results = tmp_path / "results.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env["BENCH_RESULTS"] = str(results)
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"== {name} (sqlite)" in run.stdout
    (entry,) = [json.loads(line) for line in results.read_text().splitlines()]
    assert entry["benchmark"] == name
    assert entry["rows"] and entry["quick"] is True
    if name == "fire":
        assert all(row["received"] == row["triggers"] for row in entry["rows"])  # none lost
