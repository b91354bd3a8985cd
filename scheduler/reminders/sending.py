"""Sending: the sender pool that posts claimed messages, at most
``webhook_concurrency`` at a time.

Messages wait in a backlog in memory; a few sender tasks (never more than the
concurrency) post from it through the shared :class:`WebhookClient`, cheaper
than a task and a semaphore wait per message at 10,000 messages a burst. An
attempt never wedges a delivery: whatever it raises is a failed attempt,
recorded and retried on the schedule. The pool knows which claimed
deliveries it is still working on (:meth:`Senders.held`), so lease renewal
keeps only those alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Collection, Coroutine
from datetime import datetime
from typing import Any

from scheduler.config import Settings
from scheduler.logs import redact_url
from scheduler.metrics import Metrics
from scheduler.models import DeliveryState
from scheduler.reminders.messages import Message, signed_headers
from scheduler.reminders.outcomes import AttemptRecord, OutcomeWriter
from scheduler.store import deliveries as delivery_store
from scheduler.store.database import Database
from scheduler.timezones import Clock
from scheduler.webhooks.delivery import AttemptResult, Outcome, WebhookClient

logger = logging.getLogger(__name__)

OUTCOME_WAIT_SECONDS = 5.0  # bookkeeping waits at most this long for sending to catch up
# A request still unanswered this long after the last send began is a slow
# receiver, not a burst going out: the outcomes of others need not wait for it.
BURST_SETTLE_SECONDS = 0.25
MAX_QUEUED = 500  # claimed messages in the backlog before the outbox stops claiming


class Senders:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        client: WebhookClient,
        metrics: Metrics,
        *,
        owner: str,
        spawn: Callable[[Coroutine[Any, Any, None]], object],
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.client = client
        self.owner = owner
        self.outcomes: OutcomeWriter | None = None  # set by the dispatcher
        self._spawn = spawn
        self._counted = {o: metrics.deliveries.labels(o.value) for o in Outcome}
        self._latency = metrics.delivery_latency
        self._backlog: deque[Message] = deque()
        self._workers = 0  # sender tasks, at most webhook_concurrency
        self._queued = 0  # messages given to the pool and not yet finished
        self._queue_shrank = asyncio.Event()
        self._held: set[str] = set()  # claimed deliveries not yet finished here
        self._caught_up = asyncio.Event()  # set while the backlog is empty
        self._caught_up.set()
        self._in_flight = 0  # requests sent and not yet answered
        self._landed = asyncio.Event()  # set when one is answered
        self._last_send = float("-inf")  # loop time the latest request began

    def held(self) -> set[str]:
        """Ids of the claimed deliveries this process is still working on."""
        return set(self._held)

    def forget(self, ids: Collection[str]) -> None:
        """Their outcomes are written (or could not be): not ours to renew any more."""
        self._held.difference_update(ids)

    def send(self, message: Message) -> None:
        """Send a message whose delivery this process has claimed, as soon as a
        sender is free."""
        self._queued += 1
        self._held.add(message.delivery.id)
        self._caught_up.clear()
        self._backlog.append(message)
        if self._workers < self.settings.webhook_concurrency:
            self._workers += 1
            self._spawn(self._sender())

    async def room(self) -> int:
        """Wait until the backlog has room; how many more messages it takes."""
        while self._queued >= MAX_QUEUED:
            self._queue_shrank.clear()
            await self._queue_shrank.wait()
        return MAX_QUEUED - self._queued

    async def _sender(self) -> None:
        try:
            while self._backlog:
                message = self._backlog.popleft()
                if not self._backlog:
                    self._caught_up.set()
                self._in_flight += 1
                self._last_send = asyncio.get_running_loop().time()
                try:
                    record = await self._attempt(message)
                    if record is not None and self.outcomes is not None:
                        self.outcomes.record(record)  # written later, with others
                finally:
                    self._in_flight -= 1
                    self._landed.set()
                    self._queued -= 1
                    self._queue_shrank.set()
        finally:
            self._workers -= 1

    async def attempt(self, message: Message) -> datetime | None:
        """One attempt made inline (ping, redeliver), recorded; when to retry."""
        self._held.add(message.delivery.id)
        record = await self._attempt(message)
        if record is None or self.outcomes is None:
            return None
        record.done = asyncio.get_running_loop().create_future()
        self.outcomes.record(record)
        return await record.done

    async def caught_up(self, *, slow_after: float | None = None) -> None:
        """Return once no message waits for a sender and the requests in flight are
        answered, or after ``OUTCOME_WAIT_SECONDS``. With ``slow_after``, requests
        still unanswered that long after the latest send began are not waited
        for: a receiver that hangs until its timeout is not a burst going out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OUTCOME_WAIT_SECONDS
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._caught_up.wait(), OUTCOME_WAIT_SECONDS)
        while self._in_flight and loop.time() < deadline:
            until = deadline
            if slow_after is not None:
                until = min(deadline, self._last_send + slow_after)
                if loop.time() >= until:
                    return
            self._landed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._landed.wait(), until - loop.time())

    async def _attempt(self, message: Message) -> AttemptRecord | None:
        """Make the attempt; ``None`` if there is nothing to record (the endpoint is
        gone and the delivery dead, or that could not be written)."""
        delivery, sub = message.delivery, message.sub
        now = self.clock()
        began = time.perf_counter()
        try:
            if sub is None or not sub.active:
                async with self.db.session() as session:
                    await delivery_store.complete(
                        session,
                        delivery,
                        owner=self.owner,
                        state=DeliveryState.DEAD.value,
                        last_error="the endpoint is deactivated",
                    )
                self._held.discard(delivery.id)
                return None
            result = await self.client.send(
                url=sub.url,
                msg_id=delivery.id,
                body=delivery.payload,
                secrets=(),
                now=now,
                signed=message.headers or signed_headers(delivery, sub, now),
            )
        except Exception as err:
            # The top of an attempt: a receiver's odd answer tripping a parser, a
            # bug, a database that failed. The attempt is recorded as failed and
            # retried on the schedule; it must never stay "delivering".
            logger.exception(
                "delivery %s attempt %d failed inside the service",
                delivery.id,
                delivery.attempts + 1,
                extra={"action": "deliver", "delivery_id": delivery.id},
            )
            if sub is None or not sub.active:
                self._held.discard(delivery.id)  # its claim expires; it is tried again
                return None
            error = f"the attempt failed inside the service: {type(err).__name__}: {err}"
            result = AttemptResult(
                Outcome.RETRY, None, (time.perf_counter() - began) * 1000, error[:300]
            )
        attempt = delivery.attempts + 1
        self._counted[result.outcome].inc()
        self._latency.observe(result.latency_ms / 1000)
        failed = result.outcome is not Outcome.SUCCESS
        level = logging.INFO if failed else logging.DEBUG
        if logger.isEnabledFor(level):  # ~10,000 a second in a burst
            logger.log(
                level,
                "delivery %s attempt %d to %s: %s",
                delivery.id,
                attempt,
                redact_url(sub.url),
                result.status if result.status is not None else result.error,
                extra={
                    "action": "deliver",
                    "delivery_id": delivery.id,
                    "event_id": delivery.event_id,
                    "subscription_id": sub.id,
                    "status": result.status,
                    "latency_ms": round(result.latency_ms, 1),
                    "outcome": result.outcome.value,
                },
            )
        return AttemptRecord(delivery, sub, result, attempt, now)
