"""What the service says about itself and its feeds: health checks and subscribe links.

``/readyz`` and ``/status`` bodies are gathered by the health service as
plain data and read through these models before they are sent, so the API
document shows every property they can have.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from scheduler.models.instants import UtcInstant


class Liveness(BaseModel):
    """``GET /healthz``: the process serves HTTP."""

    status: str = Field(examples=["ok"])
    version: str


class DatabaseHealth(BaseModel):
    ok: bool
    dialect: str = Field(examples=["sqlite", "postgresql"])
    round_trip_ms: float | None = None
    error: str | None = Field(None, description="Why the database did not answer")
    migrated: bool | None = Field(None, description="Has the newest schema (readiness only)")


class WritesHealth(BaseModel):
    ok: bool
    last_failure: str | None
    last_failure_at: UtcInstant | None
    last_success_at: UtcInstant | None
    failures: int


class Readiness(BaseModel):
    """``GET /readyz``: database reachable, migrated and taking writes."""

    ready: bool
    failing: list[str] = Field(description="The parts that are not ready")
    database: DatabaseHealth
    writes: WritesHealth | None = None


class SchedulerHealth(BaseModel):
    running: bool
    owner: str | None
    jobs: int
    next_fire_time: UtcInstant | None
    last_fire_lag_seconds: float | None
    fired: int


class TriggerBacklog(BaseModel):
    pending: int
    oldest_overdue: UtcInstant | None
    overdue_seconds: float


class DeliveryCounts(BaseModel):
    pending: int
    retrying: int
    delivering: int
    succeeded: int
    dead: int
    stuck: int = Field(description="Held under a claim that expired two refills ago")
    stuck_since: UtcInstant | None


class ServiceStatus(BaseModel):
    """``GET /status``: every part, and which are failing."""

    version: str
    uptime_seconds: float
    now: UtcInstant
    database: DatabaseHealth
    scheduler: SchedulerHealth
    writes: WritesHealth | None = None
    triggers: TriggerBacklog | None = None
    deliveries: DeliveryCounts | None = None
    healthy: bool
    failing: list[str] = Field(
        description="database, writes, scheduler, triggers or deliveries: what is unhealthy"
    )


class FeedLinks(BaseModel):
    ics: str
    webcal: str = Field(description="Opens the subscribe dialog of desktop calendars")
    google_subscribe: str


class CalendarLinks(BaseModel):
    """``GET /api/calendar``: how to subscribe to a feed."""

    name: str
    channel: str | None
    refresh_minutes: int
    links: FeedLinks
