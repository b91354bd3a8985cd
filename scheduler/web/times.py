"""How a page writes an event's times in the event's own zone.

The server writes every time as it is on the wall where the event happens,
with its zone's abbreviation and city ("18:15–19:30 CEST, Brussels"); the
page's script adds the viewer's own time beside it. Written in English, 24-hour
clock: the no-script page must be right, the script makes it local.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler.timezones import isoformat_utc


def city(zone: str) -> str:
    """``America/New_York`` -> ``New York``; ``UTC`` stays ``UTC``."""
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def _abbr(local: datetime) -> str:
    return local.tzname() or ""


def time_range(start: datetime, end: datetime, zone: str) -> str:
    """``18:15–19:30 CEST, Brussels`` from two aware wall times in ``zone``.

    An end on a later day says how many days later (``23:00–01:00 +1``); a
    clock change in between names both abbreviations (``01:30 CEST–03:30 CET``).
    """
    days = (end.date() - start.date()).days
    later = f" +{days}" if days else ""
    a, b = _abbr(start), _abbr(end)
    if a == b:
        text = f"{start:%H:%M}–{end:%H:%M}{later} {a}"
    else:
        text = f"{start:%H:%M} {a}–{end:%H:%M}{later} {b}"
    return f"{text}, {city(zone)}"


def clock_time(local: datetime) -> str:
    """``18:15 CEST``."""
    return f"{local:%H:%M} {_abbr(local)}"


def day(local: datetime) -> str:
    """``Tuesday 22 May 2018``."""
    return f"{local:%A} {local.day} {local:%B %Y}"


def day_key(local: datetime) -> str:
    """``2018-05-22``: the day a list groups by."""
    return local.date().isoformat()


def utc(instant: datetime | None) -> str:
    """The instant as ``<time datetime>`` and the script read it (``...Z``)."""
    return "" if instant is None else isoformat_utc(instant)


def duration(delta: timedelta) -> str:
    """``1 h 15 min`` (whole minutes)."""
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"
