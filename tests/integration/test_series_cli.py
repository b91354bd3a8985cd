"""``broadcast-scheduler series add|list|show|cancel``, run as a real subprocess,
and a CLI-added series reaching a running server's feed through the store."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.processes import CLI, Server, env_for, request


def test_series_commands_work_on_the_database(tmp_path: Path) -> None:
    server = Server(tmp_path)
    env = env_for(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=30)

    try:
        added = run(
            "series",
            "add",
            "--title",
            "EP plenary",
            "--timezone",
            "Europe/Brussels",
            "--start",
            "2099-01-06T18:15",
            "--end",
            "2099-01-06T19:30",
            "--rrule",
            "FREQ=WEEKLY;BYDAY=TU;COUNT=4",
            "--reminders",
            "30",
        )
        assert added.returncode == 0, added.stderr
        series = json.loads(added.stdout)
        assert series["rrule"] == "FREQ=WEEKLY;BYDAY=TU;COUNT=4"
        assert series["start_utc"] == "2099-01-06T17:15:00Z"
        assert [o["start"] for o in series["next_occurrences"]][:2] == [
            "2099-01-06T18:15",
            "2099-01-13T18:15",
        ]
        listed = run("series", "list")
        assert series["id"] in listed.stdout and "EP plenary" in listed.stdout
        occurrences = run("events", "list", "--series", series["id"]).stdout.splitlines()
        assert len(occurrences) == 4 and "2099-01-13T18:15:00+01:00" in occurrences[1]
        shown = json.loads(run("series", "show", series["id"]).stdout)
        assert shown["id"] == series["id"] and len(shown["next_occurrences"]) == 4

        # the running server hears it through the store: its feed shows the master
        deadline = time.monotonic() + 5
        while True:
            url = f"http://127.0.0.1:{server.port}/calendar.ics"
            with urllib.request.urlopen(url, timeout=5) as resp:
                text = resp.read().decode()
            if "RRULE:FREQ=WEEKLY" in text or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert f"UID:{series['id']}@" in text and "RRULE:FREQ=WEEKLY" in text
        status, events = request(server.port, "GET", f"/api/events?series={series['id']}")
        assert status == 200 and len(events["items"]) == 4

        cancelled = json.loads(run("series", "cancel", series["id"]).stdout)
        assert cancelled["status"] == "cancelled" and cancelled["next_occurrences"] == []
        bad = run(
            "series",
            "add",
            "--title",
            "x",
            "--timezone",
            "Europe/Brussels",
            "--start",
            "2099-01-06T18:15",
            "--end",
            "2099-01-06T19:30",
            "--rrule",
            "FREQ=MINUTELY",
        )
        assert bad.returncode == 2
        assert "FREQ=MINUTELY is refused" in bad.stderr
    finally:
        server.stop()
