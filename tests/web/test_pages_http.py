"""The public pages over HTTP: what they list, how they are kept, what they refuse.

Read through the app on loopback with an injected clock (2018-05-20 12:00Z);
HTML is parsed with the standard library's parser, as a browser would.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from scheduler.http.app import create_app
from scheduler.http.keys import PUBLIC_PAGES
from tests.conftest import AUTH, FakeClock, make_settings
from tests.http.test_events_api import create
from tests.series_support import create_series
from tests.web.html import Page

Client = TestClient[Any, Any]


async def page(client: Client, path: str, status: int = 200) -> Page:
    resp = await client.get(path)
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "text/html"
    return Page(text)


def builds(client: Client) -> int:
    return client.app[PUBLIC_PAGES].kept.builds


def titles(section: Page, name: str) -> list[str]:
    """Titles listed in one section of a schedule page, in order (HTML order is page order)."""
    html = section.html
    start = html.index(f'data-section="{name}"')
    end = html.find("<section", start + 1)
    part = Page(html[start : end if end != -1 else len(html)])
    return [e.attrs["data-title"] for e in part.items()]


async def test_the_schedule_shows_live_first_then_upcoming_by_day_then_ended(
    client: Client,
) -> None:
    # now: Sunday 2018-05-20 12:00Z = 14:00 in Brussels
    await create(client, title="Morning session", start="2018-05-20T09:00", end="2018-05-20T11:00")
    await create(client, title="On air", start="2018-05-20T13:30", end="2018-05-20T15:00")
    await create(client, title="Tuesday plenary", start="2018-05-22T18:15", end="2018-05-22T19:30")
    await create(client, title="Monday briefing", start="2018-05-21T10:00", end="2018-05-21T10:30")
    await create(client, title="Last week", start="2018-05-13T10:00", end="2018-05-13T11:00")
    shown = await page(client, "/")
    assert titles(shown, "live") == ["On air"]
    assert titles(shown, "upcoming") == ["Monday briefing", "Tuesday plenary"]
    assert titles(shown, "ended") == ["Morning session"]  # a week ago is not "recent"
    days = [h.text for h in shown.all("h3")]
    assert days == ["Monday 21 May 2018", "Tuesday 22 May 2018"]  # calendar_timezone: UTC
    live = shown.one("li", data_title="On air")
    assert shown.all("span", class_="badge")[0].text == "Live"  # live comes first
    assert live.attrs["data-state"] == "live"
    tuesday = shown.one("li", data_title="Tuesday plenary")
    assert "18:15–19:30 CEST, Brussels" in tuesday.text
    assert tuesday.attrs["data-start"] == "2018-05-22T16:15:00Z"
    time = next(t for t in shown.all("time") if t.attrs["datetime"] == "2018-05-22T16:15:00Z")
    assert time.attrs["data-zone"] == "Europe/Brussels"
    feed = shown.one("link", rel="alternate", type="text/calendar")
    assert feed.attrs["href"].endswith("/calendar.ics")


async def test_channels_are_linked_and_filtered(client: Client) -> None:
    await create(client, title="Plenary", channel="plenary")
    await create(client, title="Committee", channel="committees")
    await create(client, title="No channel")
    everything = await page(client, "/")
    nav = [
        a.attrs["href"]
        for a in everything.all("a")
        if a.attrs.get("href", "").startswith("/channels/")
    ]
    assert "/channels/plenary" in nav and "/channels/committees" in nav
    one = await page(client, "/channels/plenary")
    assert [e.attrs["data-title"] for e in one.items()] == ["Plenary"]
    assert one.one("h1").text == "plenary"
    subscribe = [a.attrs["href"] for a in one.all("a", class_="button")]
    assert "webcal://" in subscribe[0] and subscribe[0].endswith("/channels/plenary/calendar.ics")
    filtered = await page(client, "/?channel=committees")
    assert [e.attrs["data-title"] for e in filtered.items()] == ["Committee"]


async def test_an_event_page_shows_what_the_api_shows(client: Client) -> None:
    event = await create(
        client,
        title="Facebook CEO at the European Parliament",
        description="Questions from group leaders.\nMore at https://ep.example/agenda.",
        stream_url="https://ep.example/live",
        channel="plenary",
        tags=["press", "plenary"],
    )
    shown = await page(client, f"/events/{event['id']}")
    assert shown.one("h1").text == event["title"]
    assert [t.text for t in shown.all("li") if t.text in event["tags"]] == event["tags"]
    assert shown.one(class_="badge").text == "Upcoming"
    countdown = [e for e in shown.all() if e.attrs.get("role") == "timer"]
    assert len(countdown) == 1 and countdown[0].attrs["aria-live"] == "off"
    assert countdown[0].text == "Starts at 18:15 CEST"
    assert "Tuesday 22 May 2018, 18:15–19:30 CEST, Brussels" in shown.one("time").text
    description = shown.one("div", class_="description")
    assert "Questions from group leaders.\nMore at" in "".join(description.parts)
    link = [a for a in shown.all("a") if a.attrs.get("href") == "https://ep.example/agenda"]
    assert len(link) == 1 and "nofollow" in link[0].attrs["rel"]  # the "." stays text
    watch = [a for a in shown.all("a") if a.text == "Watch the stream"]
    assert watch[0].attrs["href"] == "https://ep.example/live"
    links = event["links"]
    hrefs = {a.attrs.get("href") for a in shown.all("a")}
    for name in ("ics", "webcal", "google_calendar", "outlook"):
        assert links[name] in hrefs, name
    polite = shown.one("div", id="announcer")
    assert polite.attrs["role"] == "status" and polite.attrs["aria-live"] == "polite"
    assert shown.meta("og:title") == event["title"]
    assert shown.meta("twitter:card") == "summary"
    assert shown.meta("og:url").endswith(f"/events/{event['id']}")


async def test_hostile_text_is_shown_as_text(client: Client) -> None:
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    event = await create(
        client,
        title=hostile,
        description="javascript:alert(3) and <b>bold</b> https://ok.example/?a=1&b=<x>",
        channel="plenary",
    )
    for path in ("/", f"/events/{event['id']}", "/embed", "/channels/plenary"):
        resp = await client.get(path)
        html = await resp.text()
        shown = Page(html)
        scripts = shown.all("script")
        assert all(
            "alert" not in "".join(s.parts) or s.attrs.get("type") == "application/ld+json"
            for s in scripts
        ), path
        assert not shown.all("img"), path
        assert not shown.all("b"), path
        assert not [e for e in shown.elements if "onerror" in e.attrs], path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    shown = await page(client, f"/events/{event['id']}")
    assert shown.one("h1").text == hostile
    hrefs = [a.attrs["href"] for a in shown.all("a")]
    assert not [h for h in hrefs if h.lower().startswith("javascript")]
    assert "https://ok.example/?a=1&b=" in hrefs  # a URL ends where a tag would begin
    data = shown.json_ld()  # the title inside JSON-LD cannot close its <script>
    assert data[0]["name"] == hostile


async def test_unknown_events_and_channels_get_a_404_page_and_bad_names_a_4xx(
    client: Client,
) -> None:
    await create(client, channel="plenary")
    for path in (
        "/events/nope",
        "/events/%3Cscript%3E",
        "/channels/nope",
        "/embed/channels/nope",
        "/channels/NOT%20A%20NAME",
        "/events/" + "x" * 300,
    ):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert resp.content_type == "text/html"
        shown = Page(await resp.text())
        assert shown.one("h1").text.startswith("No such"), path
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    for path in ("/?channel=Bad!", "/embed?channel=", "/?channel=%00"):
        resp = await client.get(path)
        assert resp.status == 400, path
        assert Page(await resp.text()).one("h1").text == "Not a channel name"
    assert (await client.post("/", data=b"x")).status == 405
    assert (await client.get("/static/nope.css")).status == 404


async def test_pages_send_a_strict_policy_and_only_the_embed_may_be_framed(
    aiohttp_client: Any, tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    settings = make_settings(
        tmp_path, database_url, embed_frame_ancestors="https://press.example 'self'"
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    event = await create(client)
    for path in ("/", f"/events/{event['id']}"):
        resp = await client.get(path)
        policy = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert policy.endswith("frame-ancestors 'none'")
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    embed = await client.get("/embed")
    assert embed.headers["Content-Security-Policy"].endswith(
        "frame-ancestors https://press.example 'self'"
    )
    assert "X-Frame-Options" not in embed.headers
    default = await page(client, "/embed")
    assert default.one("base").attrs["target"] == "_blank"  # links leave the frame


async def test_pages_are_kept_revalidated_and_forgotten_on_a_change(client: Client) -> None:
    event = await create(client, title="Before")
    for path in ("/", f"/events/{event['id']}", "/embed"):
        first = await client.get(path)
        body, etag = await first.read(), first.headers["ETag"]
        assert first.headers["Cache-Control"] == "no-cache"
        built = builds(client)
        again = await client.get(path)
        assert await again.read() == body and builds(client) == built
        unchanged = await client.get(path, headers={"If-None-Match": etag})
        assert unchanged.status == 304 and await unchanged.read() == b""
        head = await client.head(path)
        assert head.status == 200 and head.headers["ETag"] == etag
    old = (await client.get("/")).headers["ETag"]
    resp = await client.patch(f"/api/events/{event['id']}", json={"title": "After"}, headers=AUTH)
    assert resp.status == 200
    after = await client.get("/", headers={"If-None-Match": old})
    assert after.status == 200
    assert [e.attrs["data-title"] for e in Page(await after.text()).items()] == ["After"]
    single = await page(client, f"/events/{event['id']}")
    assert single.one("h1").text == "After"


async def test_the_clock_moves_a_kept_page_from_upcoming_to_live_to_ended(
    client: Client, clock: FakeClock
) -> None:
    # 12:00Z now; 14:00Z-15:00Z
    event = await create(client, start="2018-05-20T16:00", end="2018-05-20T17:00", reminders=[])
    states = []
    for step in (0, 7199, 1, 3599, 1):
        clock.advance(seconds=step)
        listed = Page(await (await client.get("/")).text()).one("li", data_event_id=event["id"])
        single = Page(await (await client.get(f"/events/{event['id']}")).text())
        api = await (await client.get(f"/api/events/{event['id']}")).json()
        state = single.one("article").attrs["data-state"]
        assert listed.attrs["data-state"] == state == api["state"]
        states.append(state)
    assert states == ["upcoming", "upcoming", "live", "live", "ended"]


async def test_operator_marks_and_cancellations_show_at_once(client: Client) -> None:
    event = await create(client, start="2018-05-20T16:00", end="2018-05-20T17:00")
    path = f"/events/{event['id']}"
    assert (await page(client, path)).one(class_="badge").text == "Upcoming"
    await client.post(f"/api/events/{event['id']}/start", headers=AUTH)
    assert (await page(client, path)).one(class_="badge").text == "Live"
    other = await create(client, title="Called off")
    await client.post(f"/api/events/{other['id']}/cancel", headers=AUTH)
    cancelled = await page(client, f"/events/{other['id']}")
    assert cancelled.one(class_="badge").text == "Cancelled"
    assert "was cancelled" in cancelled.one("p", class_="cancelled-note").text
    assert not [a for a in cancelled.all("a") if a.text == "Watch the stream"]
    schedule = await page(client, "/")
    assert schedule.one("li", data_title="Called off").attrs["data-state"] == "cancelled"
    assert titles(schedule, "upcoming") == ["Called off"]  # still news: it is off
    assert titles(schedule, "live") == [event["title"]]


async def test_json_ld_describes_the_event_and_its_broadcast(client: Client) -> None:
    event = await create(
        client, description="Questions.", stream_url="https://ep.example/live", channel="plenary"
    )
    data = (await page(client, f"/events/{event['id']}")).json_ld()
    described, video = data
    assert described["@context"] == "https://schema.org" and described["@type"] == "Event"
    assert described["name"] == event["title"]
    assert described["startDate"] == "2018-05-22T18:15:00+02:00"
    assert described["endDate"] == "2018-05-22T19:30:00+02:00"
    assert described["eventStatus"] == "https://schema.org/EventScheduled"
    assert described["eventAttendanceMode"] == "https://schema.org/OnlineEventAttendanceMode"
    assert described["location"] == {"@type": "VirtualLocation", "url": "https://ep.example/live"}
    assert described["organizer"]["@type"] == "Organization" and described["organizer"]["name"]
    assert video["@type"] == "VideoObject"
    assert video["thumbnailUrl"].startswith("http") and video["uploadDate"]
    assert video["publication"] == {
        "@type": "BroadcastEvent",
        "isLiveBroadcast": True,
        "startDate": "2018-05-22T18:15:00+02:00",
        "endDate": "2018-05-22T19:30:00+02:00",
    }
    thumbnail = await client.get(video["thumbnailUrl"].split(str(client.port), 1)[1])
    assert thumbnail.status == 200 and thumbnail.content_type == "image/svg+xml"

    moved = await client.patch(
        f"/api/events/{event['id']}", json={"start": "2018-05-22T18:45"}, headers=AUTH
    )
    assert (await moved.json())["previous_start_utc"] == "2018-05-22T16:15:00Z"
    shown = await page(client, f"/events/{event['id']}")
    described = shown.json_ld()[0]
    assert described["eventStatus"] == "https://schema.org/EventRescheduled"
    assert described["previousStartDate"] == "2018-05-22T18:15:00+02:00"
    assert described["startDate"] == "2018-05-22T18:45:00+02:00"
    assert "it was to start Tuesday 22 May 2018, 18:15 CEST" in shown.one(class_="moved-note").text
    renamed = await client.patch(f"/api/events/{event['id']}", json={"title": "New"}, headers=AUTH)
    assert (await renamed.json())["previous_start_utc"] == "2018-05-22T16:15:00Z"  # kept

    await client.post(f"/api/events/{event['id']}/cancel", headers=AUTH)
    data = (await page(client, f"/events/{event['id']}")).json_ld()
    assert [d["@type"] for d in data] == ["Event"]  # no broadcast to announce
    assert data[0]["eventStatus"] == "https://schema.org/EventCancelled"


async def test_static_files_have_names_that_change_with_their_bytes(client: Client) -> None:
    shown = await page(client, "/")
    css = shown.one("link", rel="stylesheet").attrs["href"]
    js = shown.one("script", defer="").attrs["src"]
    for path, kind in ((css, "text/css"), (js, "javascript")):
        assert re.fullmatch(r"/static/pages\.[0-9a-f]{10}\.(css|js)", path)
        resp = await client.get(path)
        assert resp.status == 200 and kind in resp.content_type
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert (await client.get("/static/pages.css")).status == 404  # only hashed names
    # nothing on the pages comes from another origin
    for element in shown.elements:
        for name in ("src", "href"):
            value = element.attrs.get(name, "")
            if element.tag in ("script", "img", "iframe") or (
                element.tag == "link" and element.attrs.get("rel") == "stylesheet"
            ):
                assert not value.startswith(("http:", "https:", "//")), value


async def test_a_started_stream_past_its_end_is_running_over(
    client: Client, clock: FakeClock
) -> None:
    # 12:00Z now; scheduled 14:00Z-15:00Z; the operator starts it early
    event = await create(client, start="2018-05-20T16:00", end="2018-05-20T17:00")
    await client.post(f"/api/events/{event['id']}/start", headers=AUTH)
    path = f"/events/{event['id']}"
    assert (await page(client, path)).one(class_="badge").text == "Live"
    clock.advance(hours=3)  # 15:00Z: past the scheduled end, not marked ended
    shown = await page(client, path)
    assert shown.one(class_="badge").text == "Live · running over"
    timer = next(e for e in shown.all() if e.attrs.get("role") == "timer")
    assert timer.text == "Running over: it was scheduled to end at 17:00 CEST"
    listed = (await page(client, "/")).one("li", data_event_id=event["id"])
    assert "running over" in listed.text


async def test_an_occurrence_links_its_series_page_which_lists_the_occurrences(
    client: Client,
) -> None:
    series = await create_series(
        client,
        title="Weekly plenary",
        description="Every Tuesday. Agenda: https://ep.example/agenda",
        channel="plenary",
        start="2018-05-22T18:15",
        end="2018-05-22T19:30",
        rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=3",
    )
    shown = await page(client, f"/series/{series['id']}")
    assert shown.one("h1").text == "Weekly plenary"
    assert "FREQ=WEEKLY;BYDAY=TU;COUNT=3" in shown.one("p", class_="series-rule").text
    listed = [e.attrs["data-start"] for e in shown.items()]
    assert listed == ["2018-05-22T16:15:00Z", "2018-05-29T16:15:00Z", "2018-06-05T16:15:00Z"]
    assert [a for a in shown.all("a") if a.attrs.get("href") == "https://ep.example/agenda"]
    first = shown.items()[0].attrs["data-event-id"]
    occurrence = await page(client, f"/events/{first}")
    link = next(a for a in occurrence.all("a") if "see every occurrence" in a.text)
    assert link.attrs["href"] == f"/series/{series['id']}"
    one_off = await create(client)
    assert not [
        a
        for a in (await page(client, f"/events/{one_off['id']}")).all("a")
        if "occurrence" in a.text
    ]
    # a change to the series is seen at once
    resp = await client.patch(
        f"/api/series/{series['id']}", json={"title": "Renamed plenary"}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    assert (await page(client, f"/series/{series['id']}")).one("h1").text == "Renamed plenary"
    for bad in ("nope", "%3Cx%3E"):
        missing = await page(client, f"/series/{bad}", status=404)
        assert missing.one("h1").text == "No such series"
