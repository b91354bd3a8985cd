"""Extending series as time passes: occurrences stay ``series_horizon_days`` ahead.

The server runs :meth:`SeriesExtension.extend_due` at start and every
``series_extend_seconds`` (``http.app``). Every replica may run it at the same
time: each series is extended in its own transaction, under its row's lock on
PostgreSQL, and the store skips an occurrence another process stored first
(the unique constraint on ``(series_id, recurrence_id)``), so each is stored
and announced once. Series are read in batches of :data:`EXTEND_BATCH` ids,
so the work's memory does not grow with the number of series.
"""

from __future__ import annotations

from scheduler.models.series import ACTIVE
from scheduler.series.rules import first_instant
from scheduler.services import occurrences as occ
from scheduler.services.series import SeriesService
from scheduler.services.series_replan import add_occurrences
from scheduler.store import series as series_store

#: series read per query by the periodic job
EXTEND_BATCH = 100


class SeriesExtension:
    def __init__(self, service: SeriesService) -> None:
        self.service = service
        self.db = service.db
        self.clock = service.clock

    async def extend_due(self) -> int:
        """Extend every active series whose occurrences stop short of the horizon;
        the number of occurrences added."""
        added = 0
        done: set[str] = set()
        while True:
            before = self.clock() + self.service.horizon
            async with self.db.session() as session:
                due = await series_store.due_for_extension(
                    session, before=before, limit=EXTEND_BATCH
                )
            due = [d for d in due if d not in done]
            if not due:
                return added
            for series_id in due:
                done.add(series_id)
                added += await self.extend(series_id)

    async def extend(self, series_id: str) -> int:
        """Add the series' occurrences up to the horizon; how many were added."""
        now = self.clock()
        outcome = occ.Outcome()
        service = self.service
        async with self.db.session() as session:
            series = await series_store.get(session, series_id, for_update=True)
            if series is None or series.status != ACTIVE:
                return 0
            first = first_instant(series.timezone, series.start_local)
            until = max(first, now) + service.horizon
            if series.materialized_until >= until:
                return 0
            found = service.recurrence_of(series).between(
                series.materialized_until, until, limit=service.settings.series_max_occurrences
            )
            pauses = await series_store.pauses(session, series.id)
            await add_occurrences(session, series, found, pauses, now, outcome)
            await series_store.mark_materialized(session, series.id, until)
            await service.record_changes(session, series.id, outcome)
        await service.publish_changes(series_id, outcome)
        return len(outcome.changes)
