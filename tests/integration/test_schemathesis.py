"""The API document tells the truth: schemathesis against a live server, every check.

A real ``serve`` subprocess (SQLite, then PostgreSQL) with a bearer token and
private webhook targets allowed; schemathesis reads ``/api/openapi.json`` and
runs its examples, coverage, fuzzing and stateful phases with ``--checks all``
(server errors, status codes, content types, headers and bodies against the
document, schema-violating requests refused, schema-valid ones accepted,
use-after-free, ignored auth...). Any finding fails the test.

Schema-valid data the server still refuses for reasons a JSON schema cannot
say (a zone name that is not in the tz database, an end before its start, a
cursor this server did not hand out, an ETag that is no longer current) is
answered 422, 409 or 412 with a problem naming the field; those are the
statuses ``positive_data_acceptance`` is told to expect besides 2xx.
The two Server-Sent Events streams never end and are left out.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TOKEN
from tests.processes import Server, env_for

pytestmark = pytest.mark.slow

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = """\
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "404", "409", "412", "422"]

# a text/calendar body no JSON schema can describe: schema-valid text that is
# not an iCalendar file is a 400, as a body that is not JSON is elsewhere
[[operations]]
include-operation-id = "import_calendar"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "422"]
"""
#: per backend, about a minute on a laptop with two cores
MAX_EXAMPLES = 25
SEED = "20260101"


def _run_schemathesis(server: Server, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"http://127.0.0.1:{server.port}/api/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            SEED,
            "--request-timeout",
            "10",
            "--exclude-operation-id",
            "stream_event_status",
            "--exclude-operation-id",
            "stream_live_events",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_schemathesis_finds_nothing(tmp_path: Path, database_url: str) -> None:
    if not SCHEMATHESIS.exists():
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    env = env_for(
        tmp_path,
        SCHEDULER_DATABASE_URL=database_url,
        SCHEDULER_ALLOW_PRIVATE_WEBHOOK_TARGETS="true",
    )
    server = await asyncio.to_thread(Server, tmp_path, env)
    try:
        result = await asyncio.to_thread(_run_schemathesis, server, tmp_path)
    finally:
        await asyncio.to_thread(server.stop)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-20000:]
    assert "Traceback" not in server.log.read_text()
