"""What an import reads from a calendar file: each event (or occurrence) with
the key it is found again by, and what was refused with the reason."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from scheduler.timezones import isoformat_utc


@dataclass(frozen=True)
class SourceEvent:
    """One event (or one occurrence of a recurring one) as the file has it."""

    uid: str
    recurrence_id: datetime | None  # UTC, for an occurrence of a recurring event
    title: str
    description: str | None
    location: str | None
    stream_url: str | None
    timezone: str  # IANA
    start: datetime  # aware, in ``timezone``
    end: datetime
    cancelled: bool

    @property
    def key(self) -> str:
        """What identifies it across imports: its UID and, for an occurrence, the
        instant it was planned at (hashed: UIDs can be long). The first half is
        the UID's own (:func:`uid_key`), so all of a UID's events are found by it."""
        rid = isoformat_utc(self.recurrence_id) if self.recurrence_id else ""
        return uid_key(self.uid) + _hash(f"{self.uid}\n{rid}")

    @property
    def label(self) -> str:
        return (
            f"{self.uid} ({isoformat_utc(self.recurrence_id)})" if self.recurrence_id else self.uid
        )


@dataclass(frozen=True)
class SourceSeries:
    """A recurring event of the file that becomes one of our series: its master's
    fields, wall times in its IANA zone and rule. Its occurrences as the file
    expands them (overrides and exclusions applied) are in ``Reading.recurring``."""

    uid: str
    title: str
    description: str | None
    location: str | None
    stream_url: str | None
    timezone: str
    start: datetime  # naive wall time of the first occurrence in ``timezone``
    end: datetime
    rrule: str
    first_start: datetime  # UTC
    #: the file's overrides (RECURRENCE-ID) of its instances, as written
    overrides: tuple[SourceEvent, ...] = ()

    @property
    def key(self) -> str:
        return uid_key(self.uid) + _hash(f"{self.uid}\nseries")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def uid_key(uid: str) -> str:
    """The first half of an imported event's key: its UID's, whatever the occurrence."""
    return _hash(uid)


@dataclass(frozen=True)
class Refusal:
    uid: str
    recurrence_id: str | None
    reason: str


@dataclass
class Reading:
    events: list[SourceEvent] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    #: the :func:`uid_key` of every UID in the file, refused or not (a prune
    #: spares them all)
    uids: set[str] = field(default_factory=set)
    #: recurring UIDs whose occurrences in the window were all read: one of
    #: theirs the file no longer yields was taken out of the series
    complete: set[str] = field(default_factory=set)
    #: recurring events that can be our series, and each one's occurrences
    #: (by UID) as the file expands them; they are not in ``events``
    series: list[SourceSeries] = field(default_factory=list)
    recurring: dict[str, list[SourceEvent]] = field(default_factory=dict)
