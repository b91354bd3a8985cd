"""Recurring series: tables and API schemas.

A ``Series`` row holds what a broadcaster says once ("every Tuesday at 18:15
Brussels time"): the event fields every occurrence shares, the zone, the wall
times of the first occurrence and an RFC 5545 rule. Its occurrences are
ordinary ``events`` rows carrying ``series_id`` and ``recurrence_id``
(``models.events``), created ahead up to a horizon. A ``SeriesPause`` cancels
the occurrences on a range of local dates (a summer break) until it is deleted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Column, SQLModel
from sqlmodel import Field as DBField

from scheduler.models.columns import new_id, utc_column
from scheduler.models.events import EventPublic, _EventFields, not_null, one_line_text
from scheduler.models.instants import UtcInstant, WallTime

ACTIVE = "active"
#: every future occurrence cancelled; the series changes no more
SERIES_CANCELLED = "cancelled"
MAX_RULE = 500  # characters: a real rule is under 100


class Series(SQLModel, table=True):
    """A recurring webstream: the rule and what each occurrence starts from."""

    __tablename__ = "series"
    # a series an import created is found again by its source and key (imports)
    __table_args__ = (sa.Index("ux_series_import", "import_source", "import_key", unique=True),)

    id: str = DBField(default_factory=new_id, primary_key=True, max_length=32)
    title: str = DBField(max_length=200)
    description: str | None = DBField(default=None, sa_type=sa.Text)
    stream_url: str | None = DBField(default=None, max_length=2048)
    location: str | None = DBField(default=None, max_length=500)
    channel: str | None = DBField(default=None, max_length=64)
    timezone: str = DBField(max_length=64)
    #: wall times of the first occurrence, as entered; the rule runs from the start
    start_local: datetime = DBField(sa_column=Column(sa.DateTime(timezone=False), nullable=False))
    end_local: datetime = DBField(sa_column=Column(sa.DateTime(timezone=False), nullable=False))
    rrule: str = DBField(max_length=MAX_RULE)
    reminders: list[int] = DBField(default_factory=list, sa_column=Column(sa.JSON, nullable=False))
    #: its occurrences' tags (``models.events``)
    tags: list[str] = DBField(
        default_factory=list, sa_column=Column(sa.JSON, nullable=False, server_default="[]")
    )
    status: str = DBField(default=ACTIVE, max_length=16)
    sequence: int = 0
    #: occurrences exist up to here (the periodic extension moves it on)
    materialized_until: datetime = utc_column(index=True)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    #: for a series an import created: its source and the hash of the file's UID
    import_source: str | None = DBField(default=None, max_length=64)
    import_key: str | None = DBField(default=None, max_length=40)


class SeriesPause(SQLModel, table=True):
    """A range of local dates on which a series' occurrences are cancelled."""

    __tablename__ = "series_pauses"

    id: str = DBField(default_factory=new_id, primary_key=True, max_length=32)
    series_id: str = DBField(
        sa_column=Column(
            sa.String(32),
            sa.ForeignKey("series.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    start_date: date = DBField(sa_column=Column(sa.Date, nullable=False))
    end_date: date = DBField(sa_column=Column(sa.Date, nullable=False))
    reason: str | None = DBField(default=None, max_length=500)
    created_at: datetime = utc_column()


# --- API input -------------------------------------------------------------------

RULE_DESCRIPTION = (
    "An RFC 5545 RECUR value without the `RRULE:` prefix, run in local wall time "
    "from `start`: FREQ DAILY, WEEKLY, MONTHLY or YEARLY; COUNT or UNTIL (UTC), not both"
)


class SeriesCreate(_EventFields):
    """Body of ``POST /api/series``."""

    title: str = Field(min_length=1, max_length=200)
    timezone: str = Field(min_length=1, max_length=64, examples=["Europe/Brussels"])
    start: str = Field(
        min_length=1,
        description="Local wall time of the first occurrence in `timezone` (no offset)",
        examples=["2027-01-05T18:15"],
    )
    end: str = Field(
        min_length=1,
        description="Local wall time the first occurrence ends; each lasts as long",
        examples=["2027-01-05T19:30"],
    )
    rrule: str = Field(
        min_length=1,
        max_length=MAX_RULE,
        description=RULE_DESCRIPTION,
        examples=["FREQ=WEEKLY;BYDAY=TU;COUNT=10"],
    )

    _rule = field_validator("rrule")(one_line_text)


class SeriesUpdate(_EventFields):
    """Body of ``PATCH /api/series/{id}``: only the fields given change; future
    occurrences that are not exceptions follow."""

    title: str | None = Field(None, min_length=1, max_length=200, json_schema_extra=not_null)
    timezone: str | None = Field(None, min_length=1, max_length=64, json_schema_extra=not_null)
    start: str | None = Field(None, min_length=1, json_schema_extra=not_null)
    end: str | None = Field(None, min_length=1, json_schema_extra=not_null)
    rrule: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_RULE,
        description=RULE_DESCRIPTION,
        json_schema_extra=not_null,
    )

    _rule = field_validator("rrule")(one_line_text)


class PauseCreate(BaseModel):
    """Body of ``POST /api/series/{id}/pauses``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    start: date = Field(description="First local date paused", examples=["2027-07-01"])
    end: date = Field(description="Last local date paused (inclusive)", examples=["2027-08-31"])
    reason: str | None = Field(None, max_length=500, examples=["Summer break"])

    _lines = field_validator("reason")(one_line_text)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _written_as_a_date(cls, value: object) -> object:
        # only "YYYY-MM-DD": pydantic would read a number as seconds since 1970
        if not isinstance(value, str):
            raise ValueError("must be a date written YYYY-MM-DD, e.g. 2027-07-01")
        return value


# --- API output ------------------------------------------------------------------


class PausePublic(BaseModel):
    id: str
    series_id: str
    start: date
    end: date
    reason: str | None
    cancelled: int = Field(description="Occurrences this pause holds cancelled now")
    created_at: UtcInstant


class PauseList(BaseModel):
    items: list[PausePublic]


class SeriesPublic(BaseModel):
    """A series as the API returns it."""

    id: str
    title: str
    description: str | None
    stream_url: str | None
    location: str | None
    channel: str | None
    timezone: str = Field(examples=["Europe/Brussels"])
    start: WallTime = Field(description="First occurrence's start, wall time with offset")
    end: WallTime
    start_utc: UtcInstant
    end_utc: UtcInstant
    rrule: str
    reminders: list[int]
    tags: list[str] = Field(default_factory=list)
    status: Literal["active", "cancelled"]
    sequence: int
    materialized_until: UtcInstant = Field(description="Occurrences exist up to this instant")
    created_at: UtcInstant
    updated_at: UtcInstant
    next_occurrences: list[EventPublic] = Field(
        default_factory=list, description="The next few occurrences that are not cancelled"
    )


class SeriesPage(BaseModel):
    items: list[SeriesPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
