"""The console script, run as a real subprocess the way an operator runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import BRUSSELS, TOKEN
from tests.processes import CLI, Server, env_for, request


def test_serve_create_restart_find(tmp_path: Path) -> None:
    server = Server(tmp_path)
    status, event = request(server.port, "POST", "/api/events", BRUSSELS)
    assert status == 201
    assert event["start_utc"] == "2018-05-22T16:15:00Z"
    assert server.stop(signal.SIGTERM) == 0
    assert "Traceback" not in server.log.read_text()

    server = Server(tmp_path)
    try:
        status, again = request(server.port, "GET", f"/api/events/{event['id']}")
        assert status == 200
        assert again == {**event, "state": again["state"], "links": again["links"]}
    finally:
        assert server.stop(signal.SIGINT) == 0


def test_generated_token_is_stored_not_logged(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    del env["SCHEDULER_API_TOKEN"]
    server = Server(tmp_path, env)
    try:
        token_file = tmp_path / "data" / "api-token"
        token = token_file.read_text().strip()
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        log = server.log.read_text()
        assert str(token_file) in log
        assert token not in log
        req = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/api/events",
            data=json.dumps(BRUSSELS).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 201
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"SCHEDULER_PORT": "eighty"}, "invalid setting port (from SCHEDULER_PORT)"),
        ({"SCHEDULER_LOG_LEVEL": "LOUD"}, "invalid setting log_level (from SCHEDULER_LOG_LEVEL)"),
    ],
)
def test_invalid_setting_stops_with_one_line(
    tmp_path: Path, extra: dict[str, str], expected: str
) -> None:
    result = subprocess.run(
        [*CLI, "serve"], env=env_for(tmp_path, **extra), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert expected in lines[0]


def test_events_commands_work_on_the_database(tmp_path: Path) -> None:
    env = env_for(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=30)

    assert run("db", "upgrade").returncode == 0
    added = run(
        "events",
        "add",
        "--title",
        "EP meeting",
        "--timezone",
        "Europe/Brussels",
        "--start",
        "2018-05-22T18:15",
        "--end",
        "2018-05-22T19:30",
        "--reminders",
        "30",
    )
    assert added.returncode == 0, added.stderr
    event = json.loads(added.stdout)
    assert event["start_utc"] == "2018-05-22T16:15:00Z"
    assert event["reminders"] == [30]

    listed = run("events", "list")
    assert event["id"] in listed.stdout and "EP meeting" in listed.stdout
    shown = json.loads(run("events", "show", event["id"]).stdout)
    assert shown["title"] == "EP meeting"
    cancelled = json.loads(run("events", "cancel", event["id"]).stdout)
    assert cancelled["status"] == "cancelled"

    bad = run(
        "events",
        "add",
        "--title",
        "x",
        "--timezone",
        "Europe/Brussels",
        "--start",
        "2019-03-31T02:30",
        "--end",
        "2019-03-31T04:00",
    )
    assert bad.returncode == 2
    assert "does not exist in Europe/Brussels" in bad.stderr
    missing = run("events", "show", "nope")
    assert missing.returncode == 2
    assert "no event with id" in missing.stderr


def test_json_logs_carry_context_and_no_secrets(tmp_path: Path) -> None:
    env = env_for(
        tmp_path, SCHEDULER_LOG_FORMAT="json", SCHEDULER_ALLOW_PRIVATE_WEBHOOK_TARGETS="true"
    )
    server = Server(tmp_path, env)
    try:
        status, event = request(server.port, "POST", "/api/events", BRUSSELS)
        assert status == 201
        status, sub = request(
            server.port, "POST", "/api/webhooks", {"url": f"http://127.0.0.1:{server.port}/x"}
        )
        assert status == 201
        request(server.port, "POST", f"/api/webhooks/{sub['id']}/ping")
        request(server.port, "GET", f"/api/events/{event['id']}")
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]
    requests = [entry for entry in lines if entry.get("action") == "request"]
    assert {"method", "path", "status", "ms"} <= requests[0].keys()
    assert any(entry.get("event_id") == event["id"] for entry in requests)
    attempts = [entry for entry in lines if entry.get("action") == "deliver"]
    assert attempts and attempts[0]["delivery_id"].startswith("msg_")
    text = server.log.read_text()
    assert sub["secret"] not in text
    assert TOKEN not in text


def test_commands_print_their_result_and_the_service_no_library_chatter(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    listed = subprocess.run(
        [*CLI, "events", "list"], env=env, capture_output=True, text=True, timeout=30
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""  # alembic's migration lines used to come first
    assert listed.stdout == ""  # no events yet: nothing to list
    missing = subprocess.run(
        [*CLI, "events", "show", "0" * 32], env=env, capture_output=True, text=True, timeout=30
    )
    assert missing.returncode != 0 and "no event" in missing.stderr

    server = Server(tmp_path)  # INFO, the default
    try:
        time.sleep(3)  # APScheduler logged two lines a second at INFO
    finally:
        assert server.stop(signal.SIGTERM) == 0
    log = server.log.read_text()
    assert "apscheduler" not in log
    assert "alembic" not in log
    assert "dispatcher started" in log  # our own INFO lines stay
