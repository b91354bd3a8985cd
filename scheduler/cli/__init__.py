"""The command line, and the composition root: argv and environment -> Settings -> app.

``serve`` runs the HTTP service (clean shutdown on SIGTERM/SIGINT);
``events`` and ``series`` (``cli.series``) manage events and recurring series
straight in the database, for operators working without the API; ``db
upgrade`` applies migrations.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import aiohttp
from sqlalchemy.exc import DBAPIError

from scheduler import __version__
from scheduler.cli import series
from scheduler.config import Settings, load_settings
from scheduler.exceptions import InvalidInput, SchedulerError
from scheduler.logs import configure_logging, scrub
from scheduler.models import EventCreate
from scheduler.representation import event_public
from scheduler.services.bus import ChangeBus
from scheduler.services.events import EventService
from scheduler.services.imports import ImportService
from scheduler.services.routing import route
from scheduler.services.series import SeriesService
from scheduler.status import State
from scheduler.store.changes import this_process
from scheduler.store.database import Database
from scheduler.store.events import EventFilter
from scheduler.timezones import system_clock

PROG = "broadcast-scheduler"


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line: the usage block is what ``--help`` is for."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _minutes(text: str) -> list[int] | None:
    """``--reminders 30,5`` -> [30, 5]; the range is checked with the event.

    An empty value means the default from settings, as it always has.
    """
    if not text:
        return None
    minutes = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            minutes.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{part}' is not a number of minutes") from None
    return minutes


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Live webstream scheduler")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--config", help="TOML settings file (default: $SCHEDULER_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="listen address (setting host)")
    serve.add_argument("--port", type=int, help="listen port (setting port)")
    serve.add_argument("--config", dest="config", default=argparse.SUPPRESS)

    db = commands.add_parser("db", help="manage the database")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply pending migrations")

    events = commands.add_parser("events", help="manage events directly in the database")
    ev = events.add_subparsers(dest="events_command", required=True)
    add = ev.add_parser("add", help="create an event")
    add.add_argument("--title", required=True)
    add.add_argument("--timezone", required=True, help="IANA zone, e.g. Europe/Brussels")
    add.add_argument("--start", required=True, help="local time, e.g. 2018-05-22T18:15")
    add.add_argument("--end", required=True, help="local time, e.g. 2018-05-22T19:30")
    add.add_argument("--description")
    add.add_argument("--stream-url")
    add.add_argument("--location")
    add.add_argument("--channel")
    add.add_argument(
        "--reminders",
        type=_minutes,
        help="minutes before start, comma-separated (default from settings)",
    )
    listing = ev.add_parser("list", help="list events by start time")
    listing.add_argument("--status", choices=[s.value for s in State])
    listing.add_argument("--channel")
    listing.add_argument("--series", help="only the occurrences of this series")
    listing.add_argument("--limit", type=int, default=50)
    show = ev.add_parser("show", help="show one event")
    show.add_argument("id")
    cancel = ev.add_parser("cancel", help="cancel an event")
    cancel.add_argument("id")
    imports = ev.add_parser(
        "import", help="create or update events from an iCalendar file (docs/import.md)"
    )
    imports.add_argument("file", metavar="FILE_OR_URL", help="a .ics file, - for stdin, or a URL")
    imports.add_argument("--source", default="import", help="this import's source name")
    imports.add_argument("--channel", help="put the imported events on this channel")
    imports.add_argument(
        "--prune", action="store_true", help="cancel this source's events the file no longer has"
    )
    series.add_parser(commands, _minutes)
    return parser


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


async def _with_service(settings: Settings, work: Callable[[EventService], Awaitable[int]]) -> int:
    db = Database(settings.effective_database_url, pool_size=settings.database_pool_size)
    try:
        await db.upgrade()
        service = EventService(db, settings, system_clock, origin=f"cli:{this_process()}")
        # the same routing the server builds: the CLI has no listeners of its own,
        # its changes reach a running server through the store (services.routing)
        route(ChangeBus(db, service.origin), clock=system_clock, events=service)
        return await work(service)
    finally:
        await db.dispose()


async def _events(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: EventService) -> int:
        now = system_clock()
        if args.events_command == "add":
            reminders = args.reminders
            data = EventCreate(
                title=args.title,
                timezone=args.timezone,
                start=args.start,
                end=args.end,
                description=args.description,
                stream_url=args.stream_url,
                location=args.location,
                channel=args.channel,
                reminders=reminders,
            )
            created = await service.create(data)
            _print(event_public(created.event, now=now))
        elif args.events_command == "list":
            filters = EventFilter(
                state=State(args.status) if args.status else None,
                channel=args.channel,
                series_id=args.series,
            )
            page = await service.list_page(filters, limit=args.limit)
            for event in page.items:
                view = event_public(event, now=now)
                print(f"{view['id']}  {view['start']}  {view['state']:<9}  {view['title']}")
        elif args.events_command == "show":
            _print(event_public(await service.get(args.id), now=now))
        elif args.events_command == "cancel":
            _print(event_public(await service.cancel(args.id), now=now))
        elif args.events_command == "import":
            calendar = await _calendar_file(args.file, settings.import_max_bytes)
            importer = ImportService(service, settings, system_clock, SeriesService(service))
            report = await importer.run(
                calendar, source=args.source, channel=args.channel, prune=args.prune
            )
            _print(report.model_dump(mode="json"))
        return 0

    return await _with_service(settings, work)


async def _calendar_file(where: str, limit: int) -> bytes:
    """The file's bytes: from a path, standard input (``-``) or an http(s) URL."""
    if where.startswith(("http://", "https://")):
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                async with session.get(where) as resp:
                    if resp.status != 200:
                        raise InvalidInput(f"{where} answered HTTP {resp.status}", field="file")
                    chunks, size = [], 0
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > limit:
                            break
                    data = b"".join(chunks)
            except aiohttp.ClientError as err:
                raise InvalidInput(f"could not fetch {where}: {err}", field="file") from None
    elif where == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        try:
            data = await asyncio.to_thread(_read_head, where, limit + 1)
        except OSError as err:
            raise InvalidInput(f"cannot read {where}: {err.strerror}", field="file") from None
    if len(data) > limit:
        raise InvalidInput(f"{where} is larger than import_max_bytes ({limit})", field="file")
    return data


def _read_head(path: str, size: int) -> bytes:
    with open(path, "rb") as file:
        return file.read(size)


async def _db_upgrade(settings: Settings) -> int:
    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()
    print("database is at the newest schema")
    return 0


def _serve(settings: Settings) -> int:
    from scheduler.http.app import create_app
    from scheduler.http.server import serve

    # serve() stops on SIGTERM/SIGINT and runs the cleanup contexts before returning
    asyncio.run(serve(create_app(settings), settings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.command == "serve":
        overrides = {"host": args.host, "port": args.port}
    try:
        settings = load_settings(os.environ, config_file=args.config, overrides=overrides)
        configure_logging(settings)
        if args.command == "serve":
            return _serve(settings)
        if args.command == "db":
            return asyncio.run(_db_upgrade(settings))
        if args.command == "series":
            return asyncio.run(_with_service(settings, lambda events: series.run(events, args)))
        return asyncio.run(_events(settings, args))
    except SchedulerError as err:
        return _fail(err.message)
    except ValueError as err:  # pydantic's ValidationError for CLI input
        return _fail(str(err))
    except DBAPIError as err:
        # what the driver says is the useful part ('database "x" does not exist',
        # 'password authentication failed'); scrubbed like a log line
        said = str(err.orig).strip().splitlines()[0] if str(err.orig).strip() else ""
        return _fail(f"the database is unavailable: {said or type(err.orig).__name__}")
    except OSError as err:  # the data directory or database file cannot be made
        return _fail(str(err))
    except KeyboardInterrupt:
        return 130


def _fail(message: str) -> int:
    """An error is one line on stderr (never a traceback) and exit code 2."""
    print(f"{PROG}: {scrub(message)}", file=sys.stderr)
    return 2
