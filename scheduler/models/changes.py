"""Changes: what the change routing carries from a writer to everyone who cares.

A writer (the API, the CLI, a dispatcher announcing a start) records each
committed change once; the routing (``services.routing``) hands it to this
process's listeners and, through the store's transport, to every other
process on the same database: ``NOTIFY`` on PostgreSQL, the ``change_log``
table watched through ``PRAGMA data_version`` on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field as DBField
from sqlmodel import SQLModel

from scheduler.models.columns import utc_column
from scheduler.models.events import Event
from scheduler.models.webhooks import Subscription


class ChangeKind(StrEnum):
    CREATED = "created"  # an event was created
    UPDATED = "updated"  # an event's fields changed
    CANCELLED = "cancelled"
    STARTED = "started"  # an operator started or ended an event by hand
    ENDED = "ended"
    DELETED = "deleted"
    STATE = "state"  # a dispatcher processed a scheduled start or end
    WEBHOOK = "webhook"  # a webhook subscription was created, changed or deleted
    RESYNC = "resync"  # changes may have been missed: anything may have changed
    SERIES = "series"  # a recurring series changed (its occurrences come as their own)

    @property
    def about_event(self) -> bool:
        return self not in (ChangeKind.WEBHOOK, ChangeKind.RESYNC, ChangeKind.SERIES)


#: event changes that take back what a dispatcher prepared for the event
WITHDRAWING = frozenset(
    {
        ChangeKind.UPDATED,
        ChangeKind.CANCELLED,
        ChangeKind.STARTED,
        ChangeKind.ENDED,
        ChangeKind.DELETED,
    }
)


@dataclass(frozen=True)
class Change:
    """One committed change. ``ref_id`` is the event's id, or the webhook's for
    ``WEBHOOK``, or the series' for ``SERIES``; ``event``/``subscription`` are
    the row as committed (``None`` when deleted)."""

    kind: ChangeKind
    ref_id: str
    event: Event | None = None
    channel: str | None = None
    subscription: Subscription | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, ChangeKind):
            object.__setattr__(self, "kind", ChangeKind(self.kind))

    @property
    def event_id(self) -> str:
        return self.ref_id


RESYNC = Change(ChangeKind.RESYNC, "")


class ChangeRecord(SQLModel, table=True):
    """A change as other processes on a SQLite file read it (``change_log``)."""

    __tablename__ = "change_log"
    # never reuse a number, even when every row was purged: readers go by "seq > last"
    __table_args__ = {"sqlite_autoincrement": True}

    seq: int | None = DBField(default=None, primary_key=True)
    origin: str = DBField(max_length=200)
    kind: str = DBField(max_length=16)
    ref_id: str = DBField(max_length=64)
    at: datetime = utc_column(index=True)
