"""``broadcast-scheduler series add|list|show|cancel``: recurring series straight
in the database, like ``events``; the server hears the changes through the store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from scheduler.models import SeriesCreate
from scheduler.representation import series_model
from scheduler.services.events import EventService
from scheduler.services.series import SeriesService, SeriesView
from scheduler.timezones import system_clock


def add_parser(commands: Any, minutes: Any) -> None:
    """Declare the ``series`` commands on the main parser's subcommands."""
    series = commands.add_parser("series", help="manage recurring series in the database")
    sub = series.add_subparsers(dest="series_command", required=True)
    add = sub.add_parser("add", help="create a series and its occurrences")
    add.add_argument("--title", required=True)
    add.add_argument("--timezone", required=True, help="IANA zone, e.g. Europe/Brussels")
    add.add_argument("--start", required=True, help="first start, local, e.g. 2027-01-05T18:15")
    add.add_argument("--end", required=True, help="first end, local, e.g. 2027-01-05T19:30")
    add.add_argument("--rrule", required=True, help="e.g. FREQ=WEEKLY;BYDAY=TU;COUNT=10")
    add.add_argument("--description")
    add.add_argument("--stream-url")
    add.add_argument("--location")
    add.add_argument("--channel")
    add.add_argument("--reminders", type=minutes, help="minutes before start, comma-separated")
    listing = sub.add_parser("list", help="list series in order of creation")
    listing.add_argument("--limit", type=int, default=50)
    show = sub.add_parser("show", help="show one series and its next occurrences")
    show.add_argument("id")
    cancel = sub.add_parser("cancel", help="cancel every future occurrence of a series")
    cancel.add_argument("id")


def _json(view: SeriesView) -> dict[str, Any]:
    model = series_model(view.series, upcoming=view.upcoming, now=system_clock())
    data: dict[str, Any] = model.model_dump(mode="json", exclude={"next_occurrences"})
    data["next_occurrences"] = [
        {"id": e.id, "start": e.start_local.isoformat(timespec="minutes"), "status": e.status}
        for e in view.upcoming
    ]
    return data


async def run(events: EventService, args: argparse.Namespace) -> int:
    service = SeriesService(events)
    command = args.series_command
    if command == "add":
        data = SeriesCreate(
            title=args.title,
            timezone=args.timezone,
            start=args.start,
            end=args.end,
            rrule=args.rrule,
            description=args.description,
            stream_url=args.stream_url,
            location=args.location,
            channel=args.channel,
            reminders=args.reminders,
        )
        print(json.dumps(_json(await service.create(data)), indent=2, ensure_ascii=False))
    elif command == "list":
        page = await service.list_page(limit=args.limit)
        for view in page.items:
            s = view.series
            print(f"{s.id}  {s.start_local:%Y-%m-%dT%H:%M}  {s.status:<9}  {s.rrule}  {s.title}")
    elif command == "show":
        print(json.dumps(_json(await service.get(args.id)), indent=2, ensure_ascii=False))
    elif command == "cancel":
        print(json.dumps(_json(await service.cancel(args.id)), indent=2, ensure_ascii=False))
    return 0
