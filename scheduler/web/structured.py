"""What machines read on an event page: schema.org JSON-LD and OpenGraph/Twitter meta.

The ``Event`` says what and when (wall times with their offsets), whether it
is still on (``EventScheduled``, ``EventCancelled``, or ``EventRescheduled``
with ``previousStartDate`` once its start has moved), that it happens online,
where to watch and who organises it. The stream itself is a ``VideoObject``
whose ``publication`` is a live ``BroadcastEvent``, the shape Google documents
for live video; a cancelled event has no broadcast to describe.

The JSON goes into an inline ``<script type="application/ld+json">``, which is
data, not code; :func:`script_json` makes sure no text in it can close the tag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from scheduler.models import EventPublic
from scheduler.timezones import isoformat_local
from scheduler.web.text import safe_url

SCHEMA = "https://schema.org"


@dataclass(frozen=True)
class Site:
    """Who publishes the pages: the organizer in schema.org, the site name in OpenGraph."""

    name: str
    organizer: str
    organizer_url: str
    base_url: str  # absolute, no trailing slash


def event_status(event: EventPublic) -> str:
    if event.status == "cancelled":
        return f"{SCHEMA}/EventCancelled"
    if event.previous_start_utc is not None:
        return f"{SCHEMA}/EventRescheduled"
    return f"{SCHEMA}/EventScheduled"


def event_graph(
    event: EventPublic, site: Site, *, page_url: str, thumbnail_url: str
) -> list[dict[str, Any]]:
    zone = event.timezone
    start = isoformat_local(zone, event.start_utc)
    end = isoformat_local(zone, event.end_utc)
    stream = safe_url(event.stream_url)
    described: dict[str, Any] = {
        "@context": SCHEMA,
        "@type": "Event",
        "name": event.title,
        "url": page_url,
        "startDate": start,
        "endDate": end,
        "eventStatus": event_status(event),
        "eventAttendanceMode": f"{SCHEMA}/OnlineEventAttendanceMode",
        "location": {"@type": "VirtualLocation", "url": stream or page_url},
        "organizer": {"@type": "Organization", "name": site.organizer, "url": site.organizer_url},
    }
    if event.description:
        described["description"] = event.description
    if event.previous_start_utc is not None:
        described["previousStartDate"] = isoformat_local(zone, event.previous_start_utc)
    graph = [described]
    if event.status != "cancelled":
        broadcast_start = event.actual_start or event.start_utc
        broadcast_end = event.actual_end or event.end_utc
        video: dict[str, Any] = {
            "@context": SCHEMA,
            "@type": "VideoObject",
            "name": event.title,
            "description": event.description or f"Live webstream: {event.title}",
            "uploadDate": isoformat_local(zone, event.created_at),
            "thumbnailUrl": thumbnail_url,
            "url": stream or page_url,
            "publication": {
                "@type": "BroadcastEvent",
                "isLiveBroadcast": True,
                "startDate": isoformat_local(zone, broadcast_start),
                "endDate": isoformat_local(zone, broadcast_end),
            },
        }
        graph.append(video)
    return graph


def script_json(data: Any) -> Markup:
    """``data`` as JSON safe inside ``<script>``: ``<``, ``>`` and ``&`` are written
    as ``\\u003c`` ... so ``</script>`` or ``<!--`` in a title stays a string."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)
