"""``broadcast-scheduler events import``, run as an operator runs it: from a
file and from a URL, with the same report as the API."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.processes import CLI, env_for

#: three weekly shows from a Tuesday a month ahead (recurring events are
#: imported up to import_horizon_days ahead of the real clock)
FIRST = datetime.now(UTC).date() + timedelta(days=30)
FIRST += timedelta(days=(1 - FIRST.weekday()) % 7)
DAY = FIRST.strftime("%Y%m%d")
FEED = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:weekly@example.org\r\n"
    f"DTSTART;TZID=Europe/Brussels:{DAY}T181500\r\n"
    f"DTEND;TZID=Europe/Brussels:{DAY}T193000\r\n"
    "RRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Weekly show\r\nEND:VEVENT\r\n"
    f"BEGIN:VEVENT\r\nUID:allday@example.org\r\nDTSTART;VALUE=DATE:{DAY}\r\n"
    "SUMMARY:Holiday\r\nEND:VEVENT\r\n"
    # larger than one network read: a URL import must read to the end
    + "X-PAD:"
    + "x" * 60
    + "\r\n" * 1
    + ("X-PAD:" + "x" * 60 + "\r\n") * 3000
    + "END:VCALENDAR\r\n"
).encode()


@pytest.fixture
def feed_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 200 if self.path == "/cal.ics" else 404
            self.send_response(status)
            self.send_header("Content-Type", "text/calendar")
            self.end_headers()
            if status == 200:
                self.wfile.write(FEED)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_import_from_a_file_then_a_url(tmp_path: Path, feed_url: str) -> None:
    env = env_for(tmp_path)
    path = tmp_path / "show.ics"
    path.write_bytes(FEED)

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*CLI, "events", "import", *args], env=env, capture_output=True, timeout=60
        )

    first = run(str(path), "--channel", "shows")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (len(report["series"]["created"]), report["skipped"]) == (1, 1)
    assert "all-day" in report["skipped_events"][0]["reason"]

    fetched = run(f"{feed_url}/cal.ics", "--channel", "shows")
    assert json.loads(fetched.stdout)["series"]["unchanged"] == report["series"]["created"]

    listed = subprocess.run(
        [*CLI, "events", "list"], env=env, capture_output=True, text=True, timeout=30
    )
    assert listed.stdout.count("Weekly show") == 3
    assert f"{FIRST.isoformat()}T18:15:00+0" in listed.stdout

    missing = run(f"{feed_url}/nothing.ics")
    assert missing.returncode != 0
    assert "answered HTTP 404" in missing.stderr.decode()
