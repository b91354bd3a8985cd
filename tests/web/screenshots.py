"""Retake docs/screenshots: ``python -m tests.web.screenshots`` (needs chromium and chromedriver).

Starts ``broadcast-scheduler serve`` on a fresh data folder, adds a day of
events around now, and shoots the schedule, a live event page and the embed
with a viewer in New York, on a 360 px phone and a desktop.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scheduler.timezones import to_local
from tests.processes import Server, env_for, request
from tests.web.browser import start_browser, wait_for

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZES = {"phone": (360, 740), "desktop": (1280, 900)}


def brussels(at: datetime) -> str:
    """``at`` as a wall time in Brussels, with its offset."""
    return to_local("Europe/Brussels", at).isoformat(timespec="minutes")


def seed(port: int) -> str:
    # round times, as a press office would announce them
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    now -= timedelta(minutes=now.minute % 15)
    events: list[dict[str, Any]] = [
        {
            "title": "Facebook CEO at the European Parliament",
            "description": "Mark Zuckerberg answers the questions of the group leaders.\n"
            "Agenda and documents: https://www.europarl.europa.eu/news",
            "stream_url": "https://www.europarl.europa.eu/live",
            "channel": "plenary",
            "start": brussels(now - timedelta(minutes=15)),
            "end": brussels(now + timedelta(minutes=60)),
        },
        {
            "title": "Committee on Civil Liberties: data protection hearing",
            "channel": "committees",
            "start": brussels(now - timedelta(hours=5)),
            "end": brussels(now - timedelta(hours=3)),
        },
        {
            "title": "Press conference of the President",
            "channel": "press",
            "start": brussels(now + timedelta(hours=2)),
            "end": brussels(now + timedelta(hours=2, minutes=30)),
        },
        {
            "title": "Plenary debate: digital services",
            "channel": "plenary",
            "start": brussels(now + timedelta(days=1, hours=1)),
            "end": brussels(now + timedelta(days=1, hours=3)),
        },
        {
            "title": "Budget committee vote",
            "channel": "committees",
            "start": brussels(now + timedelta(days=1, hours=4)),
            "end": brussels(now + timedelta(days=1, hours=5)),
        },
    ]
    ids = []
    for fields in events:
        status, body = request(
            port, "POST", "/api/events", {"timezone": "Europe/Brussels", **fields}
        )
        assert status == 201, body
        ids.append(body["id"])
    cancelled = {
        "title": "Visit of the Youth Parliament",
        "timezone": "Europe/Brussels",
        "channel": "press",
        "start": brussels(now + timedelta(hours=6)),
        "end": brussels(now + timedelta(hours=7)),
    }
    status, body = request(port, "POST", "/api/events", cancelled)
    request(port, "POST", f"/api/events/{body['id']}/cancel")
    return ids[0]


def shoot(driver: Any, url: str, name: str) -> None:
    for size, (width, height) in SIZES.items():
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1}
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {**metrics, "mobile": size == "phone"}
        )
        driver.get(url)
        wait_for(lambda: driver.execute_script("return document.readyState") == "complete")
        time.sleep(0.6)  # the script has rewritten times and counted down
        full = driver.execute_script("return document.documentElement.scrollHeight")
        metrics["height"] = max(height, min(full, 2400))
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {**metrics, "mobile": size == "phone"}
        )
        time.sleep(0.2)
        driver.save_screenshot(str(OUT / f"{name}-{size}.png"))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder), env_for(Path(folder), SCHEDULER_CALENDAR_NAME="EP Live"))
        try:
            live = seed(server.port)
            driver = start_browser("America/New_York")
            try:
                base = f"http://127.0.0.1:{server.port}"
                shoot(driver, f"{base}/", "schedule")
                shoot(driver, f"{base}/events/{live}", "event-live")
                shoot(driver, f"{base}/embed", "embed")
            finally:
                driver.quit()
        finally:
            server.stop()
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    main()
