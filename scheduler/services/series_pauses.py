"""Pauses of a series (Twitch's "vacation"): a range of local dates off air.

Adding a pause cancels the series' future occurrences whose local start date
falls in the range, with the pause's reason (shown in the API, sent in
``event.cancelled``, written in the feed next to the ``EXDATE``s). Occurrences
added later inside the range (the periodic extension, a re-planned rule) are
born cancelled. Deleting the pause restores what it cancelled, unless another
pause still covers it: scheduled again, reminders planned afresh,
``event.updated`` sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.etags import check_if_match
from scheduler.exceptions import Conflict, InvalidInput
from scheduler.models import PauseCreate, SeriesPause, new_id
from scheduler.models.series import ACTIVE
from scheduler.services import occurrences as occ
from scheduler.services.series import SeriesService
from scheduler.services.series_replan import pause_covering
from scheduler.status import CANCELLED, SCHEDULED
from scheduler.store import series as series_store

PAUSED = "paused"  # the reason given when a pause has none


@dataclass(frozen=True)
class PauseView:
    pause: SeriesPause
    cancelled: int


class SeriesPauses:
    def __init__(self, series: SeriesService) -> None:
        self.series = series
        self.db = series.db
        self.clock = series.clock

    async def list(self, series_id: str) -> list[PauseView]:
        async with self.db.session() as session:
            await series_store.require(session, series_id)
            pauses = await series_store.pauses(session, series_id)
            rows = await series_store.occurrences(session, series_id)
        held: dict[str, int] = {}
        for row in rows:
            if row.pause_id is not None and row.status == CANCELLED:
                held[row.pause_id] = held.get(row.pause_id, 0) + 1
        return [PauseView(p, held.get(p.id, 0)) for p in pauses]

    async def add(
        self, series_id: str, data: PauseCreate, *, if_match: str | None = None
    ) -> PauseView:
        if data.end < data.start:
            raise InvalidInput(
                f"end ({data.end.isoformat()}) is before start ({data.start.isoformat()}); "
                "a pause covers start to end, both included",
                field="end",
            )
        now = self.clock()
        outcome = occ.Outcome()
        async with self.db.session() as session:
            series = await series_store.require(session, series_id, for_update=True)
            check_if_match(if_match, series, what="series")
            if series.status != ACTIVE:
                raise Conflict("this series is cancelled and can no longer change")
            pause = SeriesPause(
                id=new_id(),
                series_id=series.id,
                start_date=data.start,
                end_date=data.end,
                reason=data.reason,
                created_at=now,
            )
            series_store.add_pause(session, pause)
            await session.flush()
            inside = [
                row
                for row in await series_store.occurrences(session, series.id)
                if data.start <= row.start_local.date() <= data.end
                and row.status == SCHEDULED
                and row.start_utc > now
                and row.actual_start is None  # live already: an operator ends it
            ]
            await occ.cancel_all(
                session,
                inside,
                now=now,
                outcome=outcome,
                reason=data.reason or PAUSED,
                pause_id=pause.id,
            )
            series.sequence += 1  # its feed master gains EXDATEs
            series.updated_at = now
            await self.series.record_changes(session, series.id, outcome)
        await self.series.publish_changes(series.id, outcome)
        return PauseView(pause, len(outcome.changes))

    async def delete(self, series_id: str, pause_id: str, *, if_match: str | None = None) -> None:
        now = self.clock()
        outcome = occ.Outcome()
        async with self.db.session() as session:
            series = await series_store.require(session, series_id, for_update=True)
            await series_store.require_pause(session, series_id, pause_id)
            check_if_match(if_match, series, what="series")
            await series_store.remove_pause(session, pause_id)
            others = await series_store.pauses(session, series_id)
            back = []
            for row in await series_store.occurrences(session, series_id):
                if row.pause_id != pause_id or row.status != CANCELLED:
                    continue
                still = pause_covering(others, row.start_local.date())
                if still is not None:
                    row.pause_id = still.id  # another pause holds it
                    row.cancel_reason = still.reason or PAUSED
                    session.add(row)
                elif row.start_utc > now and series.status == ACTIVE:
                    back.append(row)
            await occ.restore_all(session, back, now=now, outcome=outcome)
            series.sequence += 1
            series.updated_at = now
            await self.series.record_changes(session, series.id, outcome)
        await self.series.publish_changes(series_id, outcome)
