"""Lifecycle rules: is a stream upcoming, live, ended or cancelled?

Written once, here, as pure functions of an event's schedule, its operator
marks and ``now``. The schedule decides until an operator steps in: a stream
marked started is live (even before its scheduled start, and past its
scheduled end, when it is *overrunning*) until it is marked ended. The store's
SQL filters for ``?status=`` follow the same rules (``scheduler.store.events``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class State(StrEnum):
    UPCOMING = "upcoming"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


#: Stored ``Event.status`` values; the lifecycle state is derived, never stored.
SCHEDULED = "scheduled"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class Lifecycle:
    state: State
    overrunning: bool = False


def lifecycle(
    *,
    status: str,
    start_utc: datetime,
    end_utc: datetime,
    actual_start: datetime | None,
    actual_end: datetime | None,
    now: datetime,
) -> Lifecycle:
    """The state of one event at ``now``."""
    if status == CANCELLED:
        return Lifecycle(State.CANCELLED)
    if actual_end is not None:
        return Lifecycle(State.ENDED)
    if actual_start is not None:
        return Lifecycle(State.LIVE, overrunning=now >= end_utc)
    if now < start_utc:
        return Lifecycle(State.UPCOMING)
    if now < end_utc:
        return Lifecycle(State.LIVE)
    return Lifecycle(State.ENDED)
