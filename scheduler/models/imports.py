"""What ``POST /api/import`` answers: what it did to each event of the file."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ImportSkip(BaseModel):
    uid: str = Field(description="The UID in the file")
    recurrence_id: str | None = Field(
        description="For an occurrence of a recurring event: its planned start, UTC"
    )
    reason: str


class ImportIds(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    cancelled: list[str]


class ImportReport(BaseModel):
    source: str = Field(description="The import source these events belong to")
    created: int
    updated: int
    unchanged: int
    cancelled: int = Field(
        description="Cancelled because the file cancels them, or (with prune) no longer has them"
    )
    skipped: int
    ids: ImportIds = Field(description="Our event ids, by what happened to them")
    series: ImportIds = Field(
        description="Our series ids (recurring events of the file), by what happened to them"
    )
    skipped_events: list[ImportSkip] = Field(description="What was not imported, and why")
