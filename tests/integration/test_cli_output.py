"""What an operator's shell sees from ``broadcast-scheduler events``/``db``.

A command prints its result on stdout and nothing else, even on a database it
migrates first, so that it can be piped into ``jq``; an error is one line on
stderr and a non-zero exit code, whatever went wrong (a bad argument, an
unknown id, a database that is not there). The real console script runs in a
subprocess, on a database nobody has migrated yet.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import POSTGRES_ENV
from tests.processes import CLI, env_for, free_port


def _on_postgres(sql: str) -> None:
    async def run() -> None:
        base = os.environ[POSTGRES_ENV].replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL that no migration has run on yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'scheduler.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    name = f"scheduler_cli_{uuid.uuid4().hex[:12]}"
    _on_postgres(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.rpartition('/')[0]}/{name}"
    finally:
        _on_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)


EVENT = (
    "--title",
    "EP meeting",
    "--timezone",
    "Europe/Brussels",
    "--start",
    "2030-05-22T18:15",
    "--end",
    "2030-05-22T19:30",
)


def test_a_first_command_prints_its_result_only(tmp_path: Path, fresh_database_url: str) -> None:
    env = env_for(tmp_path, SCHEDULER_DATABASE_URL=fresh_database_url)
    added = run(env, "events", "add", *EVENT)  # the first command migrates the database
    assert (added.returncode, added.stderr) == (0, "")
    event = json.loads(added.stdout)  # nothing before the JSON
    assert event["start_utc"] == "2030-05-22T16:15:00Z"

    listed = run(env, "events", "list")
    assert (listed.returncode, listed.stderr) == (0, "")
    assert listed.stdout.splitlines() == [
        f"{event['id']}  2030-05-22T18:15:00+02:00  upcoming   EP meeting"
    ]
    shown = run(env, "events", "show", event["id"])
    assert (shown.returncode, shown.stderr, json.loads(shown.stdout)) == (0, "", event)
    upgraded = run(env, "db", "upgrade")
    assert (upgraded.returncode, upgraded.stderr) == (0, "")
    assert upgraded.stdout == "database is at the newest schema\n"


def _one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # no usage block, no traceback
    assert lines[0].startswith("broadcast-scheduler")
    assert expected in lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("events", "add", "--title", "x"), "required: --timezone, --start, --end"),
        (("events", "list", "--limit", "many"), "invalid int value: 'many'"),
        (("events", "add", *EVENT, "--reminders", "30,soon"), "'soon' is not a number of minutes"),
        (("events", "add", *EVENT[:3], "Mars/Olympus", *EVENT[4:]), "not an IANA time zone"),
        (("events", "show", "0" * 32), "no event with id"),
        (("events", "cancel", "0" * 32), "no event with id"),
        (
            (
                "events",
                "purge",
            ),
            "invalid choice: 'purge'",
        ),
    ],
)
def test_a_mistake_is_one_line_on_stderr(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    _one_line_error(run(env_for(tmp_path), *args), expected)


@pytest.mark.parametrize("command", [("events", "list"), ("db", "upgrade")])
def test_an_unreachable_database_is_one_line_on_stderr(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    nobody = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres"
    _one_line_error(
        run(env_for(tmp_path, SCHEDULER_DATABASE_URL=nobody), *command), "database is unavailable"
    )


@pytest.mark.postgres
def test_a_missing_postgres_database_is_one_line_on_stderr(tmp_path: Path) -> None:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    missing = f"{base.rpartition('/')[0]}/no_such_database_{uuid.uuid4().hex[:8]}"
    result = run(env_for(tmp_path, SCHEDULER_DATABASE_URL=missing), "events", "list")
    _one_line_error(result, "does not exist")


def test_a_data_directory_that_cannot_be_made_is_one_line_on_stderr(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {**env_for(tmp_path), "SCHEDULER_DATA_DIR": str(blocker / "data")}
    _one_line_error(run(env, "events", "list"), str(blocker / "data"))
