"""Change routing: who listens to which change, in one place.

Every committed change, made in this process or (through the bus's watch) in
another one on the same database, reaches:

============  ================================================================
listener      changes and what it does
============  ================================================================
feed cache    every event change, ``series`` and ``resync``: forgets cached feed
              bytes and the series' master (``state`` changes no VEVENT)
event pages   every event change and ``resync``: forgets the kept answers of
              ``GET /api/events`` and ``GET /api/events/{id}``
public pages  every event and series change and ``resync``: forgets the kept
              HTML pages (``/``, ``/channels/{name}``, ``/events/{id}``,
              ``/series/{id}``, ``/embed``)
status view   every event change and ``resync``: holds each row as committed,
              so ``GET .../status``, ``/api/live`` and SSE snapshots need no query
live hub      every event change, ``state`` included: pushes the new status
              to SSE subscribers; ``deleted`` forgets the event
dispatcher    ``updated``/``cancelled``/``started``/``ended``/``deleted``:
              takes back what it prepared for the event; ``webhook``: uses
              the webhook as it now is; ``resync``: rechecks its claims;
              ``created``: refills its horizon if the new event falls due
              within it; ``series``: nothing (its occurrences come as event
              changes); anything else but ``state`` and ``webhook``: refills
other         everything this process commits: recorded by the writer in its
processes     transaction (``store.changes``), the dispatcher's ``state``
              changes announced through the bus
============  ================================================================

:func:`route` wires them; the HTTP app and the CLI both build their bus with
it (the CLI has no listeners of its own: its changes reach the server
through the store).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from scheduler.models import Event
from scheduler.models.changes import WITHDRAWING, Change, ChangeKind
from scheduler.representation import status_public
from scheduler.services.bus import ChangeBus
from scheduler.services.event_pages import EventPages
from scheduler.services.events import EventService
from scheduler.services.feeds import FeedService
from scheduler.services.live import LiveHub
from scheduler.services.public_pages import PublicPages
from scheduler.services.status_view import StatusView
from scheduler.services.webhooks import WebhookService
from scheduler.timezones import Clock

if TYPE_CHECKING:
    from scheduler.reminders.dispatch import Dispatcher


def route(
    bus: ChangeBus,
    *,
    clock: Clock,
    events: EventService | None = None,
    webhooks: WebhookService | None = None,
    feeds: FeedService | None = None,
    pages: EventPages | None = None,
    public_pages: PublicPages | None = None,
    live: LiveHub | None = None,
    status: StatusView | None = None,
    dispatcher: Dispatcher | None = None,
) -> ChangeBus:
    # writers publish what they committed on the bus
    if events is not None:
        events.subscribe(bus.publish)
    if webhooks is not None:
        webhooks.subscribe(bus.publish)
    # listeners
    if feeds is not None:
        bus.subscribe(_about_events(feeds.on_change))
    if pages is not None:
        bus.subscribe(pages.on_change)
    if public_pages is not None:
        bus.subscribe(public_pages.on_change)
    if status is not None:  # before the live hub: a pushed status and a polled one agree
        bus.subscribe(status.on_change)
    if live is not None:
        bus.subscribe(_live_listener(live, clock))
    if dispatcher is not None:
        bus.subscribe(_dispatcher_listener(dispatcher))

        async def announce(events: list[Event]) -> None:
            await bus.announce([Change(ChangeKind.STATE, e.id, e, e.channel) for e in events])

        dispatcher.lifecycle_listeners.append(announce)
    return bus


def _about_events(
    listener: Callable[[Change], Awaitable[None]],
) -> Callable[[Change], Awaitable[None]]:
    """Only event changes, ``series`` and ``resync`` (a webhook changes no feed)."""

    async def on_change(change: Change) -> None:
        if change.kind.about_event or change.kind in (ChangeKind.RESYNC, ChangeKind.SERIES):
            await listener(change)

    return on_change


def _live_listener(hub: LiveHub, clock: Clock) -> Callable[[Change], Awaitable[None]]:
    #: the newest version (``sequence``) pushed per event: a ``state`` change carries
    #: the row as the dispatcher read it, which a later change may have overtaken
    #: (started, then ended at once: "live" must not follow "ended")
    pushed: dict[str, int] = {}

    async def on_change(change: Change) -> None:
        if change.kind is ChangeKind.DELETED:
            hub.forget(change.ref_id)
            pushed.pop(change.ref_id, None)
        elif change.event is not None:
            if change.event.sequence < pushed.get(change.ref_id, -1):
                return
            pushed[change.ref_id] = change.event.sequence
            hub.publish(change.ref_id, status_public(change.event, now=clock()))

    return on_change


def _dispatcher_listener(dispatcher: Dispatcher) -> Callable[[Change], Awaitable[None]]:
    async def on_change(change: Change) -> None:
        if change.kind is ChangeKind.SERIES:
            return  # a series' occurrences come as their own changes
        if change.kind in WITHDRAWING:
            dispatcher.withdraw(change.ref_id)  # the change took back its triggers
        elif change.kind is ChangeKind.WEBHOOK:
            dispatcher.subscription_changed(change.ref_id, change.subscription)
            return
        elif change.kind is ChangeKind.RESYNC:
            await dispatcher.revalidate()  # changes may have been missed
        elif change.kind is ChangeKind.CREATED and change.event is not None:
            dispatcher.created(change.event)  # a refill only if it falls due soon
            return
        if change.kind is not ChangeKind.STATE:  # a start or end it announced moves no trigger
            dispatcher.wake()

    return on_change
