"""An idle server says it started and nothing more at INFO; DEBUG lets the libraries speak.

APScheduler narrates its interval jobs ("Running job ... executed
successfully", twice a second) and alembic its migration context at INFO; a
person reading the log of an idle service should see the start-up lines only.
``SCHEDULER_LOG_LEVEL=DEBUG`` is how someone asks for the libraries' lines.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from tests.processes import Server, env_for

pytestmark = pytest.mark.slow

LIBRARIES = re.compile(r"apscheduler|alembic|aiosqlite|sqlalchemy", re.I)


def idle_log(tmp_path: Path, seconds: float, **env: str) -> list[str]:
    tmp_path.mkdir()
    server = Server(tmp_path, env_for(tmp_path, **env))
    try:
        time.sleep(seconds)
    finally:
        assert server.stop(signal.SIGTERM) == 0
    return server.log.read_text().splitlines()


def test_an_idle_server_logs_its_start_and_no_library_routine(tmp_path: Path) -> None:
    lines = idle_log(tmp_path / "info", 10)  # the default level, INFO
    lines = [line for line in lines if "scheduler.http.access" not in line]  # the ready probe
    assert not [line for line in lines if LIBRARIES.search(line)]
    assert [line for line in lines if " INFO " not in line] == []  # no warnings either
    started = [line for line in lines if "action=startup" in line]
    assert any("database ready" in line for line in started)
    assert any("dispatcher started" in line for line in started)
    assert any("listening on http://" in line for line in started)
    stopped = [line for line in lines if "action=shutdown" in line]
    assert [line.split(" scheduler.")[1] for line in stopped] == [
        "http.server: stopped action=shutdown"
    ]
    assert len(lines) == len(started) + len(stopped) <= 5, lines  # nothing per second


def test_debug_lets_the_libraries_speak(tmp_path: Path) -> None:
    lines = idle_log(tmp_path / "debug", 2, SCHEDULER_LOG_LEVEL="DEBUG")
    assert any(re.search(r" apscheduler\.", line) for line in lines)
    assert any(re.search(r" alembic\.", line) for line in lines)
