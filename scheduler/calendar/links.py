"""Subscribe and "add to calendar" links. Pure: URLs from a base URL and an event."""

from __future__ import annotations

import functools
from urllib.parse import quote, urlencode, urlsplit

from scheduler.models import Event


def webcal(url: str) -> str:
    """``https://host/calendar.ics`` -> ``webcal://host/calendar.ics``: opens the subscribe
    dialog of Apple Calendar, Outlook and Thunderbird."""
    parts = urlsplit(url)
    return "webcal://" + url[len(parts.scheme) + 3 :]


def google_subscribe(url: str) -> str:
    return "https://calendar.google.com/calendar/r?cid=" + quote(webcal(url), safe="")


def feed_links(base: str, channel: str | None = None) -> dict[str, str]:
    ics = f"{base}/channels/{quote(channel)}/calendar.ics" if channel else f"{base}/calendar.ics"
    return {"ics": ics, "webcal": webcal(ics), "google_subscribe": google_subscribe(ics)}


def _stamp(event_time: str) -> str:
    # 2018-05-22T16:15:00Z -> 20180522T161500Z
    return event_time.replace("-", "").replace(":", "")


def event_links(event: Event, base: str, *, start_utc: str, end_utc: str) -> dict[str, str]:
    """The event's links. Encoding them is most of the cost of a list page (two
    ``urlencode`` calls an event), so they are kept per distinct input."""
    return dict(
        _event_links(
            event.id,
            event.title,
            event.description,
            event.stream_url,
            event.location,
            event.timezone,
            base,
            start_utc,
            end_utc,
        )
    )


@functools.lru_cache(maxsize=8192)
def _event_links(
    event_id: str,
    title: str,
    description: str | None,
    stream_url: str | None,
    location: str | None,
    timezone: str,
    base: str,
    start_utc: str,
    end_utc: str,
) -> tuple[tuple[str, str], ...]:
    ics = f"{base}/events/{event_id}.ics"
    details = "\n\n".join(x for x in (description, stream_url) if x)
    google = {
        "action": "TEMPLATE",
        "text": title,
        "dates": f"{_stamp(start_utc)}/{_stamp(end_utc)}",
        "ctz": timezone,
        "details": details,
        "location": location or stream_url or "",
    }
    outlook = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": title,
        "startdt": start_utc,
        "enddt": end_utc,
        "body": details,
        "location": location or stream_url or "",
    }
    return (
        ("self", f"{base}/api/events/{event_id}"),
        ("ics", ics),
        ("webcal", webcal(ics)),
        ("google_calendar", "https://calendar.google.com/calendar/render?" + urlencode(google)),
        ("outlook", "https://outlook.live.com/calendar/0/deeplink/compose?" + urlencode(outlook)),
        ("status", f"{base}/api/events/{event_id}/status"),
    )
