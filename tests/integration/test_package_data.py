"""The wheel ships what the pages need: templates and static files, not only Python.

The Docker image and the README install with ``pip install .``; a template
missing from the wheel would only show as a 500 in production.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scheduler.web.assets import FILES

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]


def test_the_wheel_holds_the_templates_and_static_files(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("broadcast_scheduler-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (ROOT / "scheduler" / "web" / "templates").iterdir()}
    assert templates >= {"base.html", "schedule.html", "event.html", "embed.html", "missing.html"}
    for name in templates:
        assert f"scheduler/web/templates/{name}" in names
    for name in FILES:
        assert f"scheduler/web/static/{name}" in names
    assert "scheduler/default.toml" in names
