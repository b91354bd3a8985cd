"""The live hub: state changes of events, pushed to Server-Sent-Events clients.

Every committed change (an operator's start or end, a cancel, an edit) and
every scheduled start or end (when its trigger fires) is published here as one
message: the event's status at that moment. Each open stream waits on its own
small inbox, so idle streams cost a parked coroutine and little else. The last
messages are kept in a ring buffer so a client reconnecting with
``Last-Event-ID`` receives what it missed; ids carry this process's boot
stamp, and an id from another boot (or too old) gets a fresh snapshot instead.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scheduler.collector import LARGE_BROADCAST, hold_for_broadcast
from scheduler.exceptions import InvalidInput
from scheduler.inputs import parse_count

BUFFER = 1000  # messages kept for Last-Event-ID replay
QUEUE = 100  # messages a slow client may fall behind before it is dropped


@dataclass(frozen=True)
class LiveMessage:
    id: str  # "<boot>-<number>", what clients send back as Last-Event-ID
    number: int
    event_id: str
    status: dict[str, Any]
    data: str  # ``status`` as JSON, serialised once for every stream it goes to


class Subscriber:
    """One open stream's inbox: the messages it has yet to send, and a wait for the next.

    A plain list and at most one future rather than an ``asyncio.Queue`` (three
    deques and an event, ~3 KB): thousands of streams sit idle for hours, so
    the per-stream cost is what counts (``python -m bench sse``).
    """

    __slots__ = ("_inbox", "_waiter", "closed", "event_id")

    def __init__(self, event_id: str | None) -> None:
        self.event_id = event_id  # None: every event
        self.closed = False  # set when it fell behind or the server stops
        self._inbox: list[LiveMessage] = []
        self._waiter: asyncio.Future[None] | None = None

    def wants(self, message: LiveMessage) -> bool:
        return self.event_id is None or self.event_id == message.event_id

    def offer(self, message: LiveMessage) -> None:
        if len(self._inbox) >= QUEUE:
            self.close()  # it fell behind: it reconnects and catches up by id
            return
        self._inbox.append(message)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    async def wait(self, at_most: float) -> list[LiveMessage]:
        """The messages offered since the last call, waiting up to ``at_most`` s for one.

        ``[]`` when the time passed with nothing new (the stream then checks
        that its client is still there) or when the subscriber is closed.
        """
        if not self._inbox and not self.closed:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(at_most, _release, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        if self.closed:
            return []
        messages, self._inbox = self._inbox, []
        return messages

    def _wake(self) -> None:
        if self._waiter is not None:
            _release(self._waiter)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class LiveHub:
    def __init__(self) -> None:
        self.boot = f"{int(time.time() * 1000):x}"
        self._counter = itertools.count(1)
        self._buffer: deque[LiveMessage] = deque(maxlen=BUFFER)
        self._subscribers: set[Subscriber] = set()
        self._last_state: dict[str, tuple[str, bool]] = {}

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event_id: str, status: dict[str, Any], *, force: bool = False) -> bool:
        """Send ``status`` to every interested stream, unless the state is unchanged."""
        state = (status["state"], bool(status.get("overrunning")))
        if not force and self._last_state.get(event_id) == state:
            return False
        self._last_state[event_id] = state
        number = next(self._counter)
        message = LiveMessage(f"{self.boot}-{number}", number, event_id, status, json.dumps(status))
        self._buffer.append(message)
        if len(self._subscribers) >= LARGE_BROADCAST:
            hold_for_broadcast()  # a full collection mid-broadcast delays every viewer
        for sub in list(self._subscribers):
            if sub.wants(message):
                sub.offer(message)
        return True

    def forget(self, event_id: str) -> None:
        self._last_state.pop(event_id, None)

    def missed(self, last_event_id: str | None, event_id: str | None) -> list[LiveMessage] | None:
        """Messages after ``last_event_id`` for a stream; ``None`` if they cannot be known.

        An id that is not one of ours (another boot, too old, or malformed, such
        as ``<boot>-²``) is treated as absent: the client gets a fresh snapshot,
        which every SSE client recovers from, instead of an error it cannot.
        """
        if not last_event_id:
            return None
        boot, _, number = last_event_id.partition("-")
        if boot != self.boot:
            return None
        try:
            seen = parse_count(number, field="Last-Event-ID")
        except InvalidInput:
            return None
        if seen > (self._buffer[-1].number if self._buffer else 0):
            return None  # an id we never sent
        if self._buffer and self._buffer[0].number > seen + 1:
            return None  # the buffer no longer reaches back that far
        return [
            m
            for m in self._buffer
            if m.number > seen and (event_id is None or m.event_id == event_id)
        ]

    def subscribe(self, event_id: str | None) -> Subscriber:
        sub = Subscriber(event_id)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def close_all(self) -> None:
        for sub in list(self._subscribers):
            sub.close()

    def current_id(self) -> str:
        return self._buffer[-1].id if self._buffer else f"{self.boot}-0"

    def __iter__(self) -> Iterator[LiveMessage]:
        return iter(self._buffer)
