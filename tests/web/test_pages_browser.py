"""The pages in a real browser: headless Chromium, the service as a subprocess.

One server and one browser (viewer in New York) per module and worker; the
tests create their own events, near "now" where the clock matters. Marked
``xdist_group("browser")`` so that ``--dist loadgroup`` keeps them on one
worker; with the suite's plain ``-n 2`` (and pytest 9, whose node ids
pytest-xdist 3.8's loadgroup can no longer rename) each worker that draws
some starts its own browser: two at most.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.processes import Server, env_for, request
from tests.web.browser import (
    axe_violations,
    color_scheme,
    other_origin,
    require_browser,
    start_browser,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

BRUSSELS_EVENING = {
    "title": "Facebook CEO at the European Parliament",
    "timezone": "Europe/Brussels",
    "start": "2030-05-22T18:15",
    "end": "2030-05-22T19:30",
    "reminders": [],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_browser()
    folder = tmp_path_factory.mktemp("pages-browser")
    running = Server(folder, env_for(folder, SCHEDULER_LOG_LEVEL="WARNING"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    driver = start_browser("America/New_York")
    yield driver
    driver.quit()


@pytest.fixture
def driver(browser: Any) -> Any:
    color_scheme(browser, "light")
    return browser


def create(server: Server, **fields: Any) -> dict[str, Any]:
    status, body = request(server.port, "POST", "/api/events", {**BRUSSELS_EVENING, **fields})
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def post(server: Server, path: str) -> None:
    status, body = request(server.port, "POST", path)
    assert status == 200, body


def url(server: Server, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def text(driver: Any, css: str) -> str:
    return str(
        driver.execute_script("return document.querySelector(arguments[0]).textContent", css)
    )


def soon(seconds: float) -> str:
    """A UTC wall time ``seconds`` from now, to the second."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def test_times_are_shown_in_the_viewers_zone_beside_the_events_own(
    server: Server, driver: Any
) -> None:
    event = create(server)
    driver.get(url(server, f"/events/{event['id']}"))
    main = wait_for(lambda: "your time" in text(driver, ".w-main") and text(driver, ".w-main"))
    assert main == "Wednesday, 22 May 2030, 12:15–13:30 your time (New York)"
    assert text(driver, ".w-own") == " · 18:15–19:30 Brussels · 1 h 15 min"
    driver.get(url(server, "/"))
    item = f'[data-event-id="{event["id"]}"]'
    wait_for(lambda: "your time" in text(driver, f"{item} .w-main"))
    shown = " ".join(text(driver, f"{item} time").split())
    assert shown == "12:15–13:30 your time (New York) · 18:15–19:30 Brussels · 1 h 15 min"
    # rewriting the times (and regrouping the days in the viewer's zone) moved nothing
    shift = driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; let sum = 0;"
        "new PerformanceObserver(list => { for (const e of list.getEntries()) sum += e.value; })"
        ".observe({type: 'layout-shift', buffered: true});"
        "setTimeout(() => done(sum), 300);"
    )
    assert shift < 0.01

    at_home = start_browser("Europe/Brussels")
    try:
        at_home.get(url(server, f"/events/{event['id']}"))
        wait_for(lambda: at_home.execute_script("return document.readyState") == "complete")
        time.sleep(0.2)  # the deferred script has run: it leaves a Brussels viewer's text alone
        shown = at_home.execute_script("return document.querySelector('.when').textContent")
        assert "18:15–19:30 CEST, Brussels" in shown
        assert "your time" not in shown and "12:15" not in shown
    finally:
        at_home.quit()


def test_an_open_page_goes_live_and_ends_with_the_operator_without_reload(
    server: Server, driver: Any
) -> None:
    event = create(server, start=soon(3600)[:16], timezone="UTC", title="Press briefing")
    driver.get(url(server, f"/events/{event['id']}"))
    wait_for(lambda: text(driver, "[data-countdown]").startswith("Starts in"))
    assert text(driver, "[data-badge]") == "Upcoming"
    driver.execute_script("window.notReloaded = true")
    time.sleep(0.5)  # the status stream is open
    post(server, f"/api/events/{event['id']}/start")
    wait_for(lambda: text(driver, "[data-badge]") == "Live", timeout=2)
    assert "is live now" in text(driver, "#announcer")
    assert text(driver, "[data-countdown]").startswith("Ends in")
    post(server, f"/api/events/{event['id']}/end")
    wait_for(lambda: text(driver, "[data-badge]") == "Ended", timeout=2)
    assert "has ended" in text(driver, "#announcer")
    assert driver.execute_script("return window.notReloaded") is True
    timer = driver.find_element("css selector", "[data-countdown]")
    assert timer.get_attribute("role") == "timer" and timer.get_attribute("aria-live") == "off"


def test_the_schedule_moves_an_event_to_live_and_ended_on_time_without_reload(
    server: Server, driver: Any
) -> None:
    begins = datetime.now(UTC) + timedelta(seconds=4)
    event = create(
        server,
        title="Short test stream",
        timezone="UTC",
        start=begins.strftime("%Y-%m-%dT%H:%M:%S"),
        end=(begins + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    begins = begins.replace(microsecond=0)
    driver.get(url(server, "/"))
    item = f'[data-event-id="{event["id"]}"]'
    section = f"return document.querySelector('{item}').closest('[data-section]').dataset.section"
    wait_for(lambda: driver.execute_script(section) == "upcoming")
    driver.execute_script("window.notReloaded = true")
    wait_for(lambda: driver.execute_script(section) == "live", timeout=8)
    late = (datetime.now(UTC) - begins).total_seconds()
    assert late <= 2.0, f"went live {late:.1f} s after its start"
    assert text(driver, f"{item} [data-badge]") == "Live"
    wait_for(lambda: driver.execute_script(section) == "ended", timeout=6)
    assert text(driver, f"{item} [data-badge]") == "Ended"
    assert driver.execute_script("return window.notReloaded") is True


def test_a_cancelled_event_and_a_cancellation_while_the_page_is_open(
    server: Server, driver: Any
) -> None:
    gone = create(server, title="Called off")
    post(server, f"/api/events/{gone['id']}/cancel")
    driver.get(url(server, f"/events/{gone['id']}"))
    time.sleep(0.3)
    assert text(driver, "[data-badge]") == "Cancelled"
    assert "was cancelled" in text(driver, ".cancelled-note")
    assert not driver.find_elements("link text", "Watch the stream")

    going = create(server, title="Soon called off", stream_url="https://ep.example/live")
    driver.get(url(server, f"/events/{going['id']}"))
    wait_for(lambda: text(driver, "[data-badge]") == "Upcoming")
    time.sleep(0.5)
    post(server, f"/api/events/{going['id']}/cancel")
    wait_for(lambda: text(driver, "[data-badge]") == "Cancelled", timeout=2)
    assert "Soon called off was cancelled" in text(driver, "#announcer")


def test_a_hostile_title_is_shown_as_text(server: Server, driver: Any) -> None:
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    event = create(server, title=hostile, description="<b>not bold</b> javascript:alert(3)")
    for path in (f"/events/{event['id']}", "/", "/embed"):
        driver.get(url(server, path))
        wait_for(lambda: driver.execute_script("return document.readyState") == "complete")
        time.sleep(0.2)
        assert not driver.find_elements("css selector", "main img, main b")
        from selenium.common.exceptions import NoAlertPresentException

        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018
    driver.get(url(server, f"/events/{event['id']}"))
    assert driver.find_element("css selector", "h1").text == hostile


def test_the_embed_shows_in_an_iframe_on_another_origin_and_other_pages_do_not(
    server: Server, driver: Any, tmp_path: Path
) -> None:
    create(server, title="Embedded event", channel="embedded")
    host = (
        "<!doctype html><title>Press office</title><h1>Our streams</h1>"
        f'<iframe id="embed" title="Schedule" src="{url(server, "/embed/channels/embedded")}"'
        ' width="400" height="500"></iframe>'
        f'<iframe id="page" title="Page" src="{url(server, "/")}"'
        ' width="400" height="300"></iframe>'
    )
    with other_origin(host, tmp_path / "host") as page:
        assert not page.startswith(url(server, ""))  # another port: another origin
        driver.get(page)
        driver.switch_to.frame(driver.find_element("id", "embed"))
        try:
            wait_for(lambda: "your time" in text(driver, ".w-main"))
            titles = [e.text for e in driver.find_elements("css selector", ".event-title")]
            assert titles == ["Embedded event"]
            link = driver.find_element("css selector", ".event-title")
            assert link.get_attribute("target") in ("", None)  # <base target="_blank">
            assert (
                driver.execute_script("return document.baseURI")
                and driver.execute_script("return document.querySelector('base').target")
                == "_blank"
            )
        finally:
            driver.switch_to.default_content()
        driver.switch_to.frame(driver.find_element("id", "page"))
        try:
            assert not driver.find_elements("css selector", "[data-section]")  # refused
        finally:
            driver.switch_to.default_content()


def test_keyboard_focus_follows_the_page_order_and_is_visible(server: Server, driver: Any) -> None:
    event = create(
        server, title="Keyboard event", channel="keys", stream_url="https://ep.example/l"
    )
    driver.get(url(server, f"/events/{event['id']}"))
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete")
    expected = driver.execute_script(
        "return [...document.querySelectorAll('a[href], button, [tabindex]')]"
        ".filter(e => e.tabIndex >= 0 && e.getClientRects().length || e.classList.contains('skip'))"
        ".map(e => e.textContent.trim())"
    )
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    seen = []
    for _ in expected:
        ActionChains(driver).send_keys(Keys.TAB).perform()
        seen.append(driver.execute_script("return document.activeElement.textContent.trim()"))
        outline = driver.execute_script(
            "const s = getComputedStyle(document.activeElement);"
            "return [s.outlineStyle, parseFloat(s.outlineWidth)]"
        )
        assert outline[0] != "none" and outline[1] >= 2, (seen[-1], outline)
    assert seen == expected
    assert seen[0] == "Skip to content"
    assert seen.index("Watch the stream") < seen.index("Download .ics")
    # the skip link takes focus to the content
    driver.get(url(server, f"/events/{event['id']}"))
    ActionChains(driver).send_keys(Keys.TAB).send_keys(Keys.ENTER).perform()
    assert driver.execute_script("return document.activeElement.id") == "main"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violations(server: Server, browser: Any, scheme: str) -> None:
    live = create(
        server,
        title="Accessible live",
        timezone="UTC",
        start=soon(-60)[:16],
        end=soon(3600)[:16],
        channel="a11y",
        description="See https://ep.example.",
    )
    off = create(server, title="Accessible cancelled", channel="a11y")
    post(server, f"/api/events/{off['id']}/cancel")
    status, series = request(
        server.port,
        "POST",
        "/api/series",
        {**BRUSSELS_EVENING, "title": "Accessible series", "rrule": "FREQ=WEEKLY;COUNT=3"},
    )
    assert status == 201, series
    color_scheme(browser, scheme)
    background = None
    for path in (
        "/",
        "/channels/a11y",
        f"/events/{live['id']}",
        f"/events/{off['id']}",
        "/embed",
        f"/series/{series['id']}",
        "/events/missing",
    ):
        browser.get_log("browser")  # what earlier pages logged is not this page's
        browser.get(url(server, path))
        wait_for(lambda: browser.execute_script("return document.readyState") == "complete")
        assert axe_violations(browser) == [], path
        # nothing refused by the Content-Security-Policy, no script error, no missing file
        # (the 404 page's own status is the one error expected)
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert [e for e in errors if "/events/missing" not in e] == [], path
        background = browser.execute_script(
            "return getComputedStyle(document.body).backgroundColor"
        )
    assert background == ("rgb(13, 17, 23)" if scheme == "dark" else "rgb(255, 255, 255)")


def test_pages_left_behind_give_their_status_stream_back(server: Server, driver: Any) -> None:
    # a browser holds six connections to a server; pages kept in its back-forward
    # cache with their event stream open made the seventh page wait a minute
    event = create(server, title="Navigated")
    for path in ["/", f"/events/{event['id']}", "/embed"] * 4:
        began = time.monotonic()
        driver.get(url(server, path))
        assert time.monotonic() - began < 3, path
    driver.back()
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete")
    assert text(driver, "[data-badge]") == "Upcoming"  # shown again, and following
