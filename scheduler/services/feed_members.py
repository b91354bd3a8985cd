"""Which events a feed holds, kept in memory and moved by changes, not re-queried.

A feed shows the (one-off) events that end after ``now - feed_past_days`` and are not
cancelled (or were cancelled within ``feed_cancelled_days``), by start, at most
``feed_max_events`` (``scheduler.store.feeds`` asks the database the same).
Reading 10,000 rows to learn that one of them changed cost more than the 100 ms
a fresh feed may take, so each feed's members are kept, in feed order, with what
deciding membership needs:

- a change to an event moves (or adds, or drops) that one member;
- the clock only ever takes members out (an event ages past the window), and
  that is decided in memory;
- a feed that was cut at ``feed_max_events`` has events beyond its last member
  that the database knows and it does not: when a member leaves such a feed, it
  has to ask the database again (:attr:`FeedMembers.stale`).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.models import Event
from scheduler.status import CANCELLED


@dataclass(frozen=True, slots=True, order=True)
class Member:
    """What a feed needs to know of an event to order it and decide membership."""

    start_utc: datetime
    event_id: str  # unique: members never compare beyond it
    end_utc: datetime
    cancelled: bool
    cancelled_at: datetime | None

    @classmethod
    def of(cls, event: Event) -> Member:
        cancelled = event.status == CANCELLED
        return cls(event.start_utc, event.id, event.end_utc, cancelled, event.cancelled_at)

    def shown(self, *, ended_after: datetime, cancelled_after: datetime) -> bool:
        """As ``scheduler.store.feeds.feed_events`` decides it in SQL."""
        if self.end_utc <= ended_after:
            return False
        if not self.cancelled:
            return True
        return self.cancelled_at is not None and self.cancelled_at > cancelled_after

    def expires(self, *, past: timedelta, keep_cancelled: timedelta) -> datetime:
        """When the window stops showing it."""
        gone = self.end_utc + past
        if self.cancelled and self.cancelled_at is not None:
            gone = min(gone, self.cancelled_at + keep_cancelled)
        return gone


class FeedMembers:
    """The members of one feed (all events, or one channel's), in feed order."""

    def __init__(self, events: list[Event], *, channel: str | None, limit: int) -> None:
        """From the database's answer to ``scheduler.store.feeds.feed_events``."""
        self.channel = channel
        self.limit = limit
        self._members = sorted(Member.of(e) for e in events)
        self._ids = {m.event_id: m for m in self._members}
        #: the database had more events than the limit: some are not here
        self.cut = len(events) >= limit
        #: a member left a cut feed: the database must be asked again
        self.stale = False

    def __len__(self) -> int:
        return len(self._members)

    def ids(self) -> list[str]:
        return [m.event_id for m in self._members]

    def changed(self, event_id: str, event: Event | None) -> None:
        """The event as committed now (``None``: deleted). Membership is decided as
        the database would, except for the window, which :meth:`age` applies."""
        old = self._ids.pop(event_id, None)
        if old is not None:
            del self._members[bisect_left(self._members, old)]
        if event is not None and event.series_id is not None:
            return  # an occurrence: its series is shown once, not counted here
        if event is not None and (self.channel is None or event.channel == self.channel):
            member = Member.of(event)
            if self.cut and self._members and member > self._members[-1]:
                # beyond the last member of a cut feed: the database decides
                self.stale = self.stale or old is not None
                return
            insort(self._members, member)
            self._ids[event_id] = member
        elif old is not None and self.cut:
            self.stale = True  # its place belongs to an event we do not hold
        while len(self._members) > self.limit:
            dropped = self._members.pop()
            del self._ids[dropped.event_id]
            self.cut = True

    def age(self, *, ended_after: datetime, cancelled_after: datetime) -> list[str]:
        """Drop the members the window no longer shows; the ids still shown, in order."""
        shown = [
            m
            for m in self._members
            if m.shown(ended_after=ended_after, cancelled_after=cancelled_after)
        ]
        if len(shown) != len(self._members):
            if self.cut:
                self.stale = True
            self._members = shown
            self._ids = {m.event_id: m for m in shown}
        return [m.event_id for m in shown]

    def expiry(self, *, past: timedelta, keep_cancelled: timedelta) -> datetime | None:
        """When the window next takes a member out (None: no member)."""
        return min(
            (m.expires(past=past, keep_cancelled=keep_cancelled) for m in self._members),
            default=None,
        )
