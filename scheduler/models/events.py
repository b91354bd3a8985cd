"""Event tables and API schemas.

``Event`` rows hold the truth; ``EventCreate``/``EventUpdate`` describe what the
API accepts and ``EventPublic`` what it returns. Local wall times are stored
naive, as entered, next to the IANA zone they belong to; instants are UTC.
"""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator
from sqlmodel import Column, SQLModel
from sqlmodel import Field as DBField

from scheduler.exceptions import InvalidInput
from scheduler.inputs import clean_text
from scheduler.models.columns import new_id, utc_column

CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MAX_REMINDER_MINUTES = 40320  # four weeks: beyond that a reminder is a different product


class Event(SQLModel, table=True):
    """A live webstream: what, where, and when in its own zone."""

    __tablename__ = "events"

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
    status: str = DBField(default="scheduled", max_length=16, index=True)
    actual_start: datetime | None = utc_column(nullable=True)
    actual_end: datetime | None = utc_column(nullable=True)
    cancelled_at: datetime | None = utc_column(nullable=True)
    sequence: int = 0
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


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


class _EventFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str | None = Field(
        None, max_length=10000, description="Plain text; line breaks and tabs allowed"
    )
    stream_url: str | None = Field(None, max_length=2048, examples=["https://ep.example/live"])
    location: str | None = Field(None, max_length=500)
    channel: str | None = Field(None, pattern=CHANNEL_PATTERN, examples=["plenary"])
    reminders: list[StrictInt] | None = Field(
        None, description="Minutes before start; default from configuration", examples=[[60, 15]]
    )

    _url = field_validator("stream_url")(_check_url)
    _rem = field_validator("reminders")(_check_reminders)
    _lines = field_validator(
        "title", "location", "stream_url", "timezone", "start", "end", check_fields=False
    )(one_line_text)
    _texts = field_validator("description")(multiline_text)


class EventCreate(_EventFields):
    """Body of ``POST /api/events``."""

    title: str = Field(min_length=1, max_length=200)
    timezone: str = Field(min_length=1, max_length=64, examples=["Europe/Brussels"])
    start: str = Field(
        description="Local wall time in `timezone`, optionally with UTC offset; years 1900 to 2199",
        examples=["2018-05-22T18:15"],
    )
    end: str = Field(
        description="Local wall time in `timezone`, after `start`", examples=["2018-05-22T19:30"]
    )


class EventUpdate(_EventFields):
    """Body of ``PATCH /api/events/{id}``: only the fields given change."""

    title: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = Field(None, min_length=1, max_length=64)
    start: str | None = None
    end: str | None = None


# --- API output (documented in the OpenAPI document, checked against responses) ----


class TriggerPublic(BaseModel):
    type: str = Field(examples=["event.reminder"])
    minutes_before: int | None
    due_at: str = Field(examples=["2018-05-22T15:15:00Z"])
    state: str = Field(
        description="pending, claimed, fired, skipped, expired, missed, cancelled or superseded"
    )


class EventPublic(BaseModel):
    """An event as the API returns it."""

    id: str
    title: str
    description: str | None
    stream_url: str | None
    location: str | None
    channel: str | None
    timezone: str = Field(examples=["Europe/Brussels"])
    start: str = Field(description="Wall time with offset", examples=["2018-05-22T18:15:00+02:00"])
    end: str = Field(examples=["2018-05-22T19:30:00+02:00"])
    start_utc: str = Field(examples=["2018-05-22T16:15:00Z"])
    end_utc: str = Field(examples=["2018-05-22T17:30:00Z"])
    reminders: list[int]
    status: str = Field(description="scheduled or cancelled")
    state: str = Field(description="upcoming, live, ended or cancelled")
    overrunning: bool = False
    actual_start: str | None
    actual_end: str | None
    cancelled_at: str | None
    sequence: int
    created_at: str
    updated_at: str
    triggers: list[TriggerPublic] = Field(
        default_factory=list, description="When each reminder and notice goes out, and its state"
    )
    links: dict[str, str] = Field(
        default_factory=dict,
        description="self, ics, webcal, google_calendar, outlook and status URLs",
    )


class EventStatus(BaseModel):
    """``GET /api/events/{id}/status``: where a stream is in its life, now."""

    id: str
    title: str
    state: str = Field(description="upcoming, live, ended or cancelled")
    overrunning: bool = Field(description="Started by the operator and past its scheduled end")
    starts_at: str = Field(description="Actual start if marked, else scheduled (UTC)")
    ends_at: str = Field(description="Actual end if marked, else scheduled (UTC)")
    scheduled_start: str
    scheduled_end: str
    actual_start: str | None
    actual_end: str | None
    starts_in_seconds: float = Field(description="Negative once the scheduled start is past")
    ends_in_seconds: float
    stream_url: str | None
    channel: str | None
    now: str = Field(description="The server's clock when it answered")


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
