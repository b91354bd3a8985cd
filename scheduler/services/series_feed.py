"""Which instance of a series a feed writes how: the master's plan.

The master's RRULE, expanded by a calendar app, must give exactly the
occurrences the API lists (``calendar.series`` writes what is decided here):

- an instance of the rule with an occurrence that says just what the master
  says (same fields, the rule's times, not started by an operator, its wall
  time neither skipped nor repeated): nothing of its own, the master yields it;
- an instance with an occurrence that says something else, or is an exception
  (cancelled ones included): an override (``RECURRENCE-ID``);
- an instance without an occurrence (a rule change removed it), or whose
  occurrence a pause, the series' cancel or a rule change cancelled: ``EXDATE``;
- an occurrence the rule no longer yields that still happens: an event of its own.

Instances are those of the rule up to where occurrences exist
(``materialized_until``); beyond, the master yields what the extension will store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from scheduler.calendar.series import MasterPlan
from scheduler.models import Event, Series, SeriesPause
from scheduler.models.series import SERIES_CANCELLED
from scheduler.series.rules import Occurrence, read_rule
from scheduler.services.occurrences import SHARED
from scheduler.status import CANCELLED
from scheduler.timezones import is_unambiguous_wall_time

#: instances expanded at most for one master (a daily series of 27 years)
MAX_INSTANCES = 10_000


def _as_master_says(series: Series, event: Event, instance: Occurrence) -> bool:
    return (
        not event.exception
        and event.status != CANCELLED
        and event.actual_start is None
        and event.actual_end is None
        and all(getattr(event, name) == getattr(series, name) for name in SHARED)
        and list(event.reminders) == list(series.reminders)
        and event.start_utc == instance.start_utc
        and event.end_utc == instance.end_utc
        # the instants were read from these wall times (fold=0): unambiguous
        # wall times name them and nothing else
        and is_unambiguous_wall_time(series.timezone, instance.rule_wall)
        and is_unambiguous_wall_time(series.timezone, instance.end_local)
        # readers add the duration on the wall clock or in exact time: across a
        # clock change the two differ, and the instance is written out in full
        and instance.end_local - instance.rule_wall == instance.end_utc - instance.start_utc
    )


def plan_master(
    series: Series, rows: Sequence[Event], pauses: Sequence[SeriesPause]
) -> MasterPlan | None:
    """The master's plan, or ``None`` when the series has nothing left to show."""
    until: datetime | None = None
    if series.status == SERIES_CANCELLED:
        held = [r.recurrence_id for r in rows if r.status != CANCELLED and r.recurrence_id]
        if not held:
            return None
        until = max(held)
    recurrence = read_rule(
        series.rrule,
        zone=series.timezone,
        first_wall=series.start_local,
        first_end=series.end_local,
    )
    end = until if until is not None else series.materialized_until
    instances = recurrence.between(None, end, limit=MAX_INSTANCES)
    by_id = {r.recurrence_id: r for r in rows if r.recurrence_id is not None}
    exdates: list[datetime] = []
    overrides: list[tuple[Event, datetime]] = []
    matched = set()
    for instance in instances:
        row = by_id.get(instance.recurrence_id)
        if row is None:
            exdates.append(instance.rule_wall)
            continue
        matched.add(row.id)
        if row.status == CANCELLED and not row.exception:
            exdates.append(instance.rule_wall)
        elif not _as_master_says(series, row, instance):
            overrides.append((row, instance.rule_wall))
    standalone = [r for r in rows if r.id not in matched and r.status != CANCELLED]
    last = max((r.end_utc.year for r in rows), default=series.start_local.year)
    return MasterPlan(
        series,
        exdates,
        overrides,
        standalone,
        list(pauses),
        until,
        max(last, end.year),
    )
