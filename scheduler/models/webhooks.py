"""Webhook tables and API schemas: subscriptions, triggers, deliveries, attempts.

A *trigger* is one moment an event must announce (a reminder, its start, its
end, a change); it is planned with the event and claimed when it falls due.
Firing a trigger fans out into one *delivery* per matching *subscription*; a
delivery is one message (one ``webhook-id``) that is attempted until it
succeeds or dies, each *attempt* logged.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from sqlmodel import Column, SQLModel
from sqlmodel import Field as DBField

from scheduler.models.columns import new_id, utc_column
from scheduler.models.events import CHANNEL_PATTERN, multiline_text, not_null, one_line_text
from scheduler.models.instants import UtcInstant


class EventType(StrEnum):
    REMINDER = "event.reminder"
    STARTED = "event.started"
    ENDED = "event.ended"
    UPDATED = "event.updated"
    CANCELLED = "event.cancelled"


PING_TYPE = "webhook.ping"


class WebhookFormat(StrEnum):
    """What a subscription's messages look like on the wire.

    ``standard`` is the signed Standard Webhooks body; the others are the
    platform's own incoming-webhook JSON, posted unsigned (those platforms
    authenticate by the secret URL) but with the same ``webhook-id``.
    """

    STANDARD = "standard"
    SLACK = "slack"
    DISCORD = "discord"
    TEAMS = "teams"


class TriggerState(StrEnum):
    PENDING = "pending"  # waiting for its time
    CLAIMED = "claimed"  # a dispatcher is firing it (under lease)
    FIRED = "fired"  # deliveries were created
    SKIPPED = "skipped"  # its time had passed when the event was created or moved
    EXPIRED = "expired"  # a reminder that came due after the event had started
    MISSED = "missed"  # fired later than the grace period allows
    CANCELLED = "cancelled"  # the event was cancelled first
    SUPERSEDED = "superseded"  # an operator's start/end came first


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERING = "delivering"  # an attempt is running (under lease)
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # retries exhausted, endpoint gone or deactivated


class Subscription(SQLModel, table=True):
    __tablename__ = "subscriptions"

    id: str = DBField(default_factory=new_id, primary_key=True, max_length=32)
    url: str = DBField(max_length=2048)
    types: list[str] = DBField(default_factory=list, sa_column=Column(sa.JSON, nullable=False))
    channel: str | None = DBField(default=None, max_length=64, index=True)
    description: str | None = DBField(default=None, max_length=500)
    active: bool = DBField(default=True, index=True)
    format: str = DBField(
        default=WebhookFormat.STANDARD.value,
        max_length=16,
        sa_column_kwargs={"server_default": WebhookFormat.STANDARD.value},
    )
    disabled_reason: str | None = DBField(default=None, max_length=500)
    secret: str = DBField(max_length=128)
    previous_secret: str | None = DBField(default=None, max_length=128)
    previous_secret_expires_at: datetime | None = utc_column(nullable=True)
    failing_since: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class Trigger(SQLModel, table=True):
    __tablename__ = "triggers"
    __table_args__ = (sa.Index("ix_triggers_state_due", "state", "due_at"),)

    id: str = DBField(primary_key=True, max_length=64)
    event_id: str = DBField(
        sa_column=Column(
            sa.String(32),
            sa.ForeignKey("events.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    type: str = DBField(max_length=32)
    minutes_before: int | None = None
    due_at: datetime = utc_column()
    state: str = DBField(default=TriggerState.PENDING, max_length=16)
    generation: int = 0  # raised each time a moved event re-arms the trigger
    claimed_by: str | None = DBField(default=None, max_length=128)
    claim_expires_at: datetime | None = utc_column(nullable=True)
    claim_attempt: int = 0
    fired_at: datetime | None = utc_column(nullable=True)
    late_by_seconds: float | None = None
    detail: dict[str, Any] | None = DBField(default=None, sa_column=Column(sa.JSON, nullable=True))


class Delivery(SQLModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (sa.Index("ix_deliveries_state_next", "state", "next_attempt_at"),)

    id: str = DBField(primary_key=True, max_length=64)  # the webhook-id
    subscription_id: str = DBField(
        sa_column=Column(
            sa.String(32),
            sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    trigger_id: str | None = DBField(default=None, max_length=64, index=True)
    event_id: str | None = DBField(default=None, max_length=32)
    type: str = DBField(max_length=32)
    payload: str = DBField(sa_type=sa.Text)
    state: str = DBField(default=DeliveryState.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = utc_column()
    claimed_by: str | None = DBField(default=None, max_length=128)
    claim_expires_at: datetime | None = utc_column(nullable=True)
    claim_attempt: int = 0
    last_status: int | None = None
    last_error: str | None = DBField(default=None, max_length=500)
    created_at: datetime = utc_column()
    delivered_at: datetime | None = utc_column(nullable=True)


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempts"

    id: int | None = DBField(default=None, primary_key=True)
    delivery_id: str = DBField(
        sa_column=Column(
            sa.String(64),
            sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    attempt: int
    started_at: datetime = utc_column()
    status: int | None = None
    latency_ms: float
    error: str | None = DBField(default=None, max_length=500)
    response_excerpt: str | None = DBField(default=None, max_length=1024)


# --- API schemas -------------------------------------------------------------------

#: the wire format of a subscription's messages (``_known_format`` words the refusal)
FormatName = Annotated[
    str,
    Field(
        json_schema_extra={"enum": [f.value for f in WebhookFormat]},
        description="`standard` (signed Standard Webhooks), `slack`, `discord` or `teams`",
    ),
]

#: event types a subscription listens to (the validator also sorts and deduplicates)
EventTypes = Annotated[
    list[str],
    # what _known_types enforces (it words its own messages)
    Field(json_schema_extra={"minItems": 1, "items": {"enum": [t.value for t in EventType]}}),
]


class _SubscriptionFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: str | None = Field(None, pattern=CHANNEL_PATTERN)
    description: str | None = Field(None, max_length=500)

    _lines = field_validator("url", check_fields=False)(one_line_text)
    _texts = field_validator("description")(multiline_text)

    @field_validator("types", check_fields=False)
    @classmethod
    def _known_types(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("list at least one event type")
        allowed = [t.value for t in EventType]
        for item in value:
            if item not in allowed:
                raise ValueError(f"{item!r} is not an event type; use {', '.join(allowed)}")
        return sorted(set(value))

    @field_validator("format", check_fields=False)
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is None:
            return None
        allowed = [f.value for f in WebhookFormat]
        if value not in allowed:
            shown = value if len(value) <= 40 else value[:40] + "..."
            raise ValueError(f"{shown!r} is not a webhook format; use {', '.join(allowed)}")
        return value


class SubscriptionCreate(_SubscriptionFields):
    """Body of ``POST /api/webhooks``."""

    url: str = Field(max_length=2048, examples=["https://bot.example/hooks/broadcast"])
    types: EventTypes = Field(default_factory=lambda: [t.value for t in EventType])
    format: FormatName = WebhookFormat.STANDARD.value


class SubscriptionUpdate(_SubscriptionFields):
    """Body of ``PATCH /api/webhooks/{id}``."""

    # optional but never null (null is refused with a 422: they cannot be removed)
    url: str | None = Field(None, max_length=2048, json_schema_extra=not_null)
    types: EventTypes | None = Field(None, json_schema_extra=not_null)
    active: StrictBool | None = Field(None, json_schema_extra=not_null)
    format: FormatName | None = Field(None, json_schema_extra=not_null)


class SubscriptionPublic(BaseModel):
    """A webhook endpoint as the API returns it (never with its secret)."""

    id: str
    url: str
    types: list[str]
    format: str = Field(json_schema_extra={"enum": [f.value for f in WebhookFormat]})
    channel: str | None
    description: str | None
    active: bool
    disabled_reason: str | None
    failing_since: UtcInstant | None
    created_at: UtcInstant
    updated_at: UtcInstant


class SubscriptionSecret(SubscriptionPublic):
    """A webhook endpoint with its signing secret: shown once, at creation and rotation."""

    secret: str = Field(description="`whsec_...`: verify signatures with it; shown only now")


class AttemptPublic(BaseModel):
    attempt: int
    started_at: UtcInstant
    status: int | None = Field(description="The receiver's HTTP status, if it answered")
    latency_ms: float
    error: str | None
    response_excerpt: str | None


class DeliveryPublic(BaseModel):
    id: str = Field(description="The webhook-id header of every attempt")
    type: str
    event_id: str | None
    state: str = Field(json_schema_extra={"enum": [s.value for s in DeliveryState]})
    attempts: int
    next_attempt_at: UtcInstant | None = Field(description="Only while pending")
    last_status: int | None
    last_error: str | None
    created_at: UtcInstant
    delivered_at: UtcInstant | None
    attempt_log: list[AttemptPublic]


class SubscriptionList(BaseModel):
    items: list[SubscriptionPublic]


class DeliveryList(BaseModel):
    items: list[DeliveryPublic]
