"""Re-planning a series' future occurrences, and adding new ones, in the series' transaction.

A changed series pairs each future occurrence with the new rule's occurrence
on the same local date (the n-th of that date): a new time or zone moves it in
place, a date the rule no longer yields removes it (or cancels it when a
message about it already went out), a new date gets a new occurrence (born
cancelled inside a pause). Exceptions keep their times and fields; only their
recurrence id follows their date's new instance, so a calendar still attaches
them. Occurrences that have started or ended are never rewritten.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from scheduler.models import Series, SeriesPause
from scheduler.models.changes import ChangeKind
from scheduler.series.rules import Occurrence
from scheduler.services import occurrences as occ
from scheduler.status import CANCELLED
from scheduler.store import events as event_store
from scheduler.store import series as series_store
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Session
from scheduler.timezones import to_local


def pause_covering(pauses: Sequence[SeriesPause], day: date) -> SeriesPause | None:
    for pause in pauses:
        if pause.start_date <= day <= pause.end_date:
            return pause
    return None


def _day_keys(items: Sequence[tuple[Any, date]]) -> dict[tuple[date, int], Any]:
    """Items by (local date, n-th on that date): how a re-planned occurrence finds
    the one it replaces."""
    seen: dict[date, int] = defaultdict(int)
    keyed = {}
    for item, day in items:
        keyed[(day, seen[day])] = item
        seen[day] += 1
    return keyed


async def replan(
    session: Session,
    series: Series,
    occurrences: Sequence[Occurrence],
    until: datetime,
    old_zone: str,
    now: datetime,
    outcome: occ.Outcome,
) -> None:
    """Bring the future occurrences in line with the series (see module doc)."""
    rows = await series_store.occurrences(session, series.id)
    future = [r for r in rows if r.recurrence_id is not None and r.recurrence_id > now]
    old = _day_keys(
        [(r, to_local(old_zone, r.recurrence_id or r.start_utc).date()) for r in future]
    )
    wanted = [o for o in occurrences if o.recurrence_id > now]
    new = _day_keys([(o, to_local(series.timezone, o.recurrence_id).date()) for o in wanted])
    pairs = [(old[key], o) for key, o in new.items() if key in old]
    paired = {id(row) for row, _ in pairs}
    moving = [row for row, o in pairs if row.recurrence_id != o.recurrence_id]
    for row in moving:  # two steps: a new id may be another row's old one
        row.recurrence_id = None
    if moving:
        await session.flush()
    following = []
    for row, o in pairs:
        if row.exception or row.actual_start is not None:
            row.recurrence_id = o.recurrence_id  # kept as it is, on its date's instance
        else:
            following.append((row, occ.target_values(series, o)))
    await occ.follow_all(session, following, now=now, outcome=outcome)
    # those an earlier rule change cancelled, that this one yields again
    again = [r for r, _ in following if r.status == CANCELLED and r.pause_id is None]
    await occ.restore_all(session, again, now=now, outcome=outcome)
    dropped = [r for r in future if id(r) not in paired and not r.exception]
    announced = await trigger_store.announced(session, [r.id for r in dropped])
    live = [row for row in dropped if row.status != CANCELLED]
    await occ.cancel_all(session, [r for r in live if r.id in announced], now=now, outcome=outcome)
    for row in live:
        if row.id not in announced:
            await event_store.remove(session, row.id)
            outcome.add(ChangeKind.DELETED, None, row.id, row.channel)
    added = [o for key, o in new.items() if key not in old]
    pauses = await series_store.pauses(session, series.id)
    await add_occurrences(session, series, added, pauses, now, outcome)
    series.materialized_until = until


async def add_occurrences(
    session: Session,
    series: Series,
    found: Sequence[Occurrence],
    pauses: Sequence[SeriesPause],
    now: datetime,
    outcome: occ.Outcome,
) -> None:
    events, triggers = [], []
    for o in found:
        pause = pause_covering(pauses, o.start_local.date())
        paused = (pause.id, pause.reason or "paused") if pause else None
        event, planned = occ.new_row(series, o, now=now, paused=paused)
        events.append(event)
        triggers.extend(planned)
    stored = await series_store.insert_occurrences(session, events, triggers)
    for event in events:
        if event.id in stored:
            outcome.add(ChangeKind.CREATED, event, event.id, event.channel)
