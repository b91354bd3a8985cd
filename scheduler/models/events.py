"""Event tables and API schemas.

``Event`` rows hold the truth; ``EventCreate``/``EventUpdate`` describe what the
API accepts and ``EventPublic`` what it returns. Local wall times are stored
naive, as entered, next to the IANA zone they belong to; instants are UTC.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator
from sqlmodel import Column, SQLModel
from sqlmodel import Field as DBField

from scheduler.exceptions import InvalidInput
from scheduler.inputs import clean_text
from scheduler.models.columns import new_id, utc_column
from scheduler.models.instants import UtcInstant, WallTime

CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
TAG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
MAX_TAGS = 10
MAX_REMINDER_MINUTES = 40320  # four weeks: beyond that a reminder is a different product


class Event(SQLModel, table=True):
    """A live webstream: what, where, and when in its own zone."""

    __tablename__ = "events"
    __table_args__ = (
        # streams an operator started and has not ended: live whatever their
        # schedule says (the status view loads them at start)
        sa.Index(
            "ix_events_open_streams",
            "actual_start",
            sqlite_where=sa.text("actual_start IS NOT NULL AND actual_end IS NULL"),
            postgresql_where=sa.text("actual_start IS NOT NULL AND actual_end IS NULL"),
        ),
        # an imported event is found again by its source and key (imports)
        sa.Index("ux_events_import", "import_source", "import_key", unique=True),
        # one row per occurrence of a series: two replicas extending the same
        # series cannot both store it (``store.series``)
        sa.UniqueConstraint("series_id", "recurrence_id", name="uq_events_series_occurrence"),
    )

    id: str = DBField(default_factory=new_id, primary_key=True, max_length=32)
    title: str = DBField(max_length=200)
    description: str | None = DBField(default=None, sa_type=sa.Text)
    stream_url: str | None = DBField(default=None, max_length=2048)
    location: str | None = DBField(default=None, max_length=500)
    channel: str | None = DBField(default=None, max_length=64, index=True)
    timezone: str = DBField(max_length=64)
    start_local: datetime = DBField(sa_column=Column(sa.DateTime(timezone=False), nullable=False))
    end_local: datetime = DBField(sa_column=Column(sa.DateTime(timezone=False), nullable=False))
    start_utc: datetime = utc_column(index=True)
    end_utc: datetime = utc_column(index=True)
    reminders: list[int] = DBField(default_factory=list, sa_column=Column(sa.JSON, nullable=False))
    #: short lower-case labels (``press``, ``plenary``); feeds and lists filter by them
    tags: list[str] = DBField(
        default_factory=list, sa_column=Column(sa.JSON, nullable=False, server_default="[]")
    )
    status: str = DBField(default="scheduled", max_length=16, index=True)
    actual_start: datetime | None = utc_column(nullable=True)
    actual_end: datetime | None = utc_column(nullable=True)
    cancelled_at: datetime | None = utc_column(nullable=True)
    #: the scheduled start before the start last moved (None: never moved): what
    #: makes it "rescheduled" for schema.org, and what it was moved from
    previous_start_utc: datetime | None = utc_column(nullable=True)
    sequence: int = 0
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    #: for an event an import created: the import's source name and the hash of
    #: the file's UID (+ RECURRENCE-ID) it came from (``calendar.reading``)
    import_source: str | None = DBField(default=None, max_length=64)
    import_key: str | None = DBField(default=None, max_length=40)
    # --- an occurrence of a recurring series (``models.series``); None for one-offs
    series_id: str | None = DBField(
        default=None,
        sa_column=Column(
            sa.String(32), sa.ForeignKey("series.id", ondelete="CASCADE"), nullable=True
        ),
    )
    #: the occurrence's start as the series rule computed it (UTC): its RECURRENCE-ID
    recurrence_id: datetime | None = utc_column(nullable=True)
    #: changed or cancelled on its own: a series change leaves it as it is
    exception: bool = DBField(
        default=False, sa_column=Column(sa.Boolean, nullable=False, server_default=sa.false())
    )
    #: why it was cancelled, when a pause of its series cancelled it
    cancel_reason: str | None = DBField(default=None, max_length=500)
    #: the pause that cancelled it (restored when that pause is deleted)
    pause_id: str | None = DBField(default=None, max_length=32)


class IdempotencyRecord(SQLModel, table=True):
    """Remembers which event a POST with an ``Idempotency-Key`` created."""

    __tablename__ = "idempotency_keys"

    key: str = DBField(primary_key=True, max_length=255)
    scope: str = DBField(primary_key=True, max_length=64)
    fingerprint: str = DBField(max_length=64)
    resource_id: str = DBField(max_length=32)
    created_at: datetime = utc_column(index=True)


# --- API input -------------------------------------------------------------------


def one_line_text(value: str | None, info: ValidationInfo) -> str | None:
    """Field validator: text without control or bidi-override characters (see inputs)."""
    if value is None:
        return None
    try:
        return clean_text(value, field=str(info.field_name))
    except InvalidInput as err:
        raise ValueError(err.message) from None


def multiline_text(value: str | None, info: ValidationInfo) -> str | None:
    """Field validator: like :func:`one_line_text`, but line breaks and tabs are kept."""
    if value is None:
        return None
    try:
        return clean_text(value, field=str(info.field_name), multiline=True)
    except InvalidInput as err:
        raise ValueError(err.message) from None


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.match(r"^https?://[^\s/?#]+[^\s]*$", value):
        raise ValueError("must be an http:// or https:// URL")
    return value


def _check_reminders(value: list[int] | None) -> list[int] | None:
    if value is None:
        return None
    if len(value) > 10:
        raise ValueError("at most 10 reminders per event")
    for minutes in value:
        if minutes < 0 or minutes > MAX_REMINDER_MINUTES:
            raise ValueError(
                f"{minutes} is out of range: reminders are minutes before start, "
                f"0 to {MAX_REMINDER_MINUTES}"
            )
    return sorted(set(value), reverse=True)


def _check_tags(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if len(value) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per event")
    for tag in value:
        if not re.match(TAG_PATTERN, tag):
            raise ValueError(
                f"{tag[:40]!r} is not a tag: 1-32 lower-case letters, digits, '-' or '_'"
            )
    return list(dict.fromkeys(value))


def _tag_limits(schema: dict[str, Any]) -> None:
    """Document what :func:`_check_tags` enforces."""
    schema["anyOf"][0].update(maxItems=MAX_TAGS, items={"type": "string", "pattern": TAG_PATTERN})


def _reminder_limits(schema: dict[str, Any]) -> None:
    """Document what :func:`_check_reminders` enforces (it words its own messages)."""
    schema["anyOf"][0].update(
        maxItems=10, items={"type": "integer", "minimum": 0, "maximum": MAX_REMINDER_MINUTES}
    )


class _EventFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str | None = Field(
        None, max_length=10000, description="Plain text; line breaks and tabs allowed"
    )
    stream_url: str | None = Field(None, max_length=2048, examples=["https://ep.example/live"])
    location: str | None = Field(None, max_length=500)
    channel: str | None = Field(None, pattern=CHANNEL_PATTERN, examples=["plenary"])
    reminders: list[StrictInt] | None = Field(
        None,
        description="Minutes before start; null or left out: the configured default",
        examples=[[60, 15]],
        json_schema_extra=_reminder_limits,
    )
    tags: list[str] | None = Field(
        None,
        description="Short lower-case labels; feeds and lists filter by them (`?tags=`)",
        examples=[["press", "plenary"]],
        json_schema_extra=_tag_limits,
    )

    _url = field_validator("stream_url")(_check_url)
    _rem = field_validator("reminders")(_check_reminders)
    _tags = field_validator("tags")(_check_tags)
    _lines = field_validator(
        "title", "location", "stream_url", "timezone", "start", "end", check_fields=False
    )(one_line_text)
    _texts = field_validator("description")(multiline_text)


class EventCreate(_EventFields):
    """Body of ``POST /api/events``."""

    title: str = Field(min_length=1, max_length=200)
    timezone: str = Field(min_length=1, max_length=64, examples=["Europe/Brussels"])
    start: str = Field(
        min_length=1,
        description="Local wall time in `timezone`, optionally with UTC offset; years 1900 to 2199",
        examples=["2018-05-22T18:15"],
    )
    end: str = Field(
        min_length=1,
        description="Local wall time in `timezone`, after `start`",
        examples=["2018-05-22T19:30"],
    )


def not_null(schema: dict[str, Any]) -> None:
    """Document an optional field as never null: null only means "not sent" inside,
    and the service refuses an explicit null for it with a 422."""
    schema.pop("default", None)
    variants = [v for v in schema.pop("anyOf", []) if v.get("type") != "null"]
    if variants:
        schema.update(variants[0])


class EventUpdate(_EventFields):
    """Body of ``PATCH /api/events/{id}``: only the fields given change."""

    # optional but never null: these cannot be removed (see not_null)
    title: str | None = Field(None, min_length=1, max_length=200, json_schema_extra=not_null)
    timezone: str | None = Field(None, min_length=1, max_length=64, json_schema_extra=not_null)
    start: str | None = Field(
        None,
        min_length=1,
        description="Local wall time in `timezone`, optionally with UTC offset",
        json_schema_extra=not_null,
    )
    end: str | None = Field(
        None, min_length=1, description="Local wall time in `timezone`", json_schema_extra=not_null
    )


# --- API output (the OpenAPI document describes these; responses are built from them) --

EventState = Literal["upcoming", "live", "ended", "cancelled"]


class TriggerPublic(BaseModel):
    type: str = Field(examples=["event.reminder"])
    minutes_before: int | None
    due_at: UtcInstant
    state: str = Field(
        description="pending, claimed, fired, skipped, expired, missed, cancelled or superseded"
    )


class EventLinks(BaseModel):
    """Where to read the event, add it to a calendar, or follow its status."""

    self: str
    ics: str
    webcal: str
    google_calendar: str
    outlook: str
    status: str


class EventPublic(BaseModel):
    """An event as the API returns it (``triggers`` and ``links`` are left out of
    webhook payloads and the CLI's output)."""

    id: str
    title: str
    description: str | None
    stream_url: str | None
    location: str | None
    channel: str | None
    timezone: str = Field(examples=["Europe/Brussels"])
    start: WallTime = Field(description="Wall time in `timezone`, with its offset")
    end: WallTime = Field(description="Wall time in `timezone`, with its offset")
    start_utc: UtcInstant
    end_utc: UtcInstant
    reminders: list[int]
    tags: list[str] = Field(default_factory=list)
    status: Literal["scheduled", "cancelled"]
    state: EventState
    overrunning: bool = False
    actual_start: UtcInstant | None
    actual_end: UtcInstant | None
    cancelled_at: UtcInstant | None
    previous_start_utc: UtcInstant | None = Field(
        None, description="The scheduled start before the start was last moved (null: never moved)"
    )
    sequence: int
    created_at: UtcInstant
    updated_at: UtcInstant
    series_id: str | None = Field(None, description="The series it is an occurrence of")
    recurrence_id: UtcInstant | None = Field(
        None, description="Its start as the series rule computed it (its RECURRENCE-ID)"
    )
    exception: bool = Field(
        False, description="An occurrence changed or cancelled on its own: series changes skip it"
    )
    cancel_reason: str | None = Field(None, description="Why a pause of its series cancelled it")
    triggers: list[TriggerPublic] = Field(
        default_factory=list, description="When each reminder and notice goes out, and its state"
    )
    links: EventLinks | None = Field(
        None, description="Its API, iCal, subscribe, add-to-calendar and status URLs"
    )


class EventStatus(BaseModel):
    """``GET /api/events/{id}/status``: where a stream is in its life, now."""

    id: str
    title: str
    state: EventState
    overrunning: bool = Field(description="Started by the operator and past its scheduled end")
    starts_at: UtcInstant = Field(description="Actual start if marked, else scheduled")
    ends_at: UtcInstant = Field(description="Actual end if marked, else scheduled")
    scheduled_start: UtcInstant
    scheduled_end: UtcInstant
    actual_start: UtcInstant | None
    actual_end: UtcInstant | None
    starts_in_seconds: float = Field(description="Negative once the scheduled start is past")
    ends_in_seconds: float
    stream_url: str | None
    channel: str | None
    now: UtcInstant = Field(description="The server's clock when it answered")


class LiveList(BaseModel):
    items: list[EventStatus]


class EventPage(BaseModel):
    """One page of ``GET /api/events``."""

    items: list[EventPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class FieldError(BaseModel):
    field: str | None
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
