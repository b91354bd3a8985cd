"""The schedule as people read it: live now, then upcoming by day, then recently ended.

Pure: cards and ``now`` in, sections out. Which events a schedule holds is
decided by :func:`window` (the question the service asks the store) and
:func:`arrange` (where each lands); both are applied again by the page's
script as the clock and the status stream move events between sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scheduler.status import State
from scheduler.timezones import to_local
from scheduler.web import times
from scheduler.web.cards import Card

#: how long an ended (or cancelled, past) event stays under "Recently ended"
RECENT = timedelta(hours=24)
#: most events one schedule page lists, by start (the feed and the API have them all)
MAX_EVENTS = 200
#: most events the embed lists (it is a box on someone else's page)
MAX_EMBEDDED = 10
#: most recently ended events shown, newest first
MAX_ENDED = 10


@dataclass(frozen=True)
class Day:
    key: str  # 2018-05-22
    label: str  # Tuesday 22 May 2018
    cards: list[Card]


@dataclass(frozen=True)
class Sections:
    live: list[Card] = field(default_factory=list)
    upcoming: list[Day] = field(default_factory=list)
    ended: list[Card] = field(default_factory=list)
    #: the list was cut at its limit: more events exist than it shows
    cut: bool = False

    @property
    def empty(self) -> bool:
        return not (self.live or self.upcoming or self.ended)


def window(now: datetime) -> datetime:
    """Events that end after this instant are on the schedule."""
    return now - RECENT


def _upcoming(card: Card, now: datetime) -> bool:
    # cancelled events that have not started yet are still news: "it is off"
    if card.state == State.UPCOMING.value:
        return True
    return card.state == State.CANCELLED.value and card.start_local > now


def arrange(
    cards: list[Card], *, now: datetime, day_zone: str, limit: int, ended: bool = True
) -> Sections:
    """``cards`` (by start) into sections; upcoming days in ``day_zone``."""
    live = [c for c in cards if c.state == State.LIVE.value]
    coming = [c for c in cards if _upcoming(c, now)]
    placed = {c.id for c in live} | {c.id for c in coming}
    since = window(now)
    gone = [c for c in cards if c.id not in placed and c.ends_at > since] if ended else []
    gone = sorted(gone, key=lambda c: c.ends_at, reverse=True)[:MAX_ENDED]
    room = max(limit - len(live), 0)
    cut = len(coming) > room
    days: list[Day] = []
    for item in coming[:room]:
        local = to_local(day_zone, item.start_local)
        key = times.day_key(local)
        if not days or days[-1].key != key:
            days.append(Day(key, times.day(local), []))
        days[-1].cards.append(item)
    return Sections(live, days, gone, cut)
