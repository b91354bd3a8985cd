"""The outbox: delivering webhook messages that are due, with bounded concurrency.

Deliveries are database rows (``scheduler.store.deliveries``). The outbox
claims due ones in batches (claiming one row whenever a sender frees up would
cost a transaction per message) into a backlog in memory, with the messages
the dispatcher prepared; at most ``webhook_concurrency`` sender tasks send
from it through the shared :class:`WebhookClient`. Outcomes are written
together once sending has caught up: a success and its attempt log in two
statements for the whole batch; failures one by one, with the retry
schedule, ``410``-deactivation and the failing-endpoint limit.

An attempt never wedges a delivery: whatever an attempt raises is recorded as
a failed attempt and retried on the schedule, and the outbox knows which
claimed deliveries it is still working on (:meth:`Outbox.held`), so the lease
renewal keeps only those alive; anything it lost track of (an outcome that
could not be written) expires and is taken over under the same id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from scheduler.config import Settings
from scheduler.logs import redact_url
from scheduler.metrics import Metrics
from scheduler.models import Delivery, DeliveryAttempt, DeliveryState, Subscription
from scheduler.store import claims
from scheduler.store import deliveries as delivery_store
from scheduler.store import subscriptions as subscription_store
from scheduler.store.database import Database
from scheduler.timezones import Clock
from scheduler.webhooks.delivery import AttemptResult, Outcome, WebhookClient
from scheduler.webhooks.retries import next_delay

logger = logging.getLogger(__name__)

CLAIM_BATCH = 500  # rows per claim or outcome statement
OUTCOME_WAIT_SECONDS = 5.0  # outcomes wait at most this long for sending to catch up
# A request still unanswered this long after the last send began is a slow
# receiver, not a burst going out: the outcomes of others need not wait for it.
BURST_SETTLE_SECONDS = 0.25


class Outbox:
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
        schedule_retry: Callable[[datetime], None],
        quiet: Callable[[], Awaitable[None]],  # bookkeeping waits for a quiet moment
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.client = client
        self.metrics = metrics
        self.owner = owner
        self.lease = timedelta(seconds=settings.claim_lease_seconds)
        self._spawn = spawn
        self._schedule_retry = schedule_retry
        self._quiet = quiet
        self._drain_lock = asyncio.Lock()
        self._drain_again = False
        self._outcomes: list[Any] = []  # attempt outcomes waiting to be written
        self._writer: asyncio.Task[None] | None = None
        self._flushing = False
        self._backlog: deque[Outgoing] = deque()  # to send
        self._workers = 0  # tasks sending from the backlog, at most webhook_concurrency
        self._counted = {o: metrics.deliveries.labels(o.value) for o in Outcome}
        self._queued = 0  # deliveries claimed by this process and not yet finished
        self._queue_shrank = asyncio.Event()
        self._held: set[str] = set()  # claimed deliveries not yet finished here
        self._caught_up = asyncio.Event()  # set while the backlog is empty
        self._caught_up.set()
        self._in_flight = 0  # requests sent and not yet answered
        self._landed = asyncio.Event()  # set when one is answered
        self._last_send = float("-inf")  # loop time the latest request began

    def held(self) -> set[str]:
        """Ids of the claimed deliveries this process is still working on (their
        leases are renewed; any other claim of this process is left to expire)."""
        return set(self._held)

    def send(
        self,
        delivery: Delivery,
        sub: Subscription | None,
        signed: dict[str, str] | None = None,
    ) -> None:
        """Send a delivery this process has claimed, as soon as a sender is free
        (with ``signed``, headers signed when it was prepared)."""
        self._queued += 1
        self._held.add(delivery.id)
        self._caught_up.clear()
        self._backlog.append((delivery, sub, signed))
        if self._workers < self.settings.webhook_concurrency:
            self._workers += 1
            self._spawn(self._sender())

    async def drain(self) -> None:
        """Attempt every due delivery, at most ``webhook_concurrency`` at a time."""
        if self._drain_lock.locked():
            self._drain_again = True
            return
        async with self._drain_lock:
            self._drain_again = True
            while self._drain_again:
                self._drain_again = False
                await self._drain_once()

    async def _drain_once(self) -> None:
        # Claim in batches into the senders' backlog: claiming one row each time
        # a sender frees up would cost a transaction per delivery. Leases of
        # claimed rows that wait are renewed by the ``renew`` job.
        while True:
            while self._queued >= CLAIM_BATCH:
                self._queue_shrank.clear()
                await self._queue_shrank.wait()
            limit = CLAIM_BATCH - self._queued
            try:
                now = self.db.sql_now(self.clock())
                async with self.db.session() as session:
                    claimed = await claims.claim_due(
                        session,
                        delivery_store.QUEUE,
                        owner=self.owner,
                        now=now,
                        lease=self.lease,
                        limit=limit,
                    )
                    subs = await subscription_store.by_ids(
                        session, list({d.subscription_id for d in claimed})
                    )
            except Exception:
                logger.exception("claiming deliveries failed", extra={"action": "deliver"})
                return
            for delivery in claimed:
                self.send(delivery, subs.get(delivery.subscription_id))
            if len(claimed) < limit:
                return

    async def _sender(self) -> None:
        """Send from the backlog until it is empty: ``webhook_concurrency`` of these
        bound the requests in flight (cheaper than a task and a semaphore wait
        per message, at 10,000 messages a burst)."""
        try:
            while self._backlog:
                delivery, sub, signed = self._backlog.popleft()
                if not self._backlog:
                    self._caught_up.set()
                self._in_flight += 1
                self._last_send = asyncio.get_running_loop().time()
                try:
                    sent = await self._send(delivery, sub, signed)
                    if sent is not None:
                        # written later with others; sending goes on meanwhile
                        self._record(delivery, *sent, done=None)
                finally:
                    self._in_flight -= 1
                    self._landed.set()
                    self._queued -= 1
                    self._queue_shrank.set()
        finally:
            self._workers -= 1

    async def flush(self, grace: float) -> None:
        """Stopping: write the outcomes still queued (else a restart would send
        those messages again)."""
        writer = self._writer
        if writer is None or writer.done():
            return
        self._flushing = True  # write now: nothing more will be sent
        _done, pending = await asyncio.wait({writer}, timeout=grace)
        if pending:
            writer.cancel()
            logger.warning(
                "%d delivery outcomes were not written in time; their messages may be "
                "sent again (same ids) after a restart",
                len(self._outcomes),
                extra={"action": "shutdown"},
            )

    async def caught_up(self, *, slow_after: float | None = None) -> None:
        """Return once no message waits for a sender and the requests in flight are
        answered, or after ``OUTCOME_WAIT_SECONDS`` (bookkeeping must not wait
        for ever). With ``slow_after``, requests still unanswered that long after
        the latest send began are not waited for: a receiver that hangs until
        its timeout is not a burst going out."""
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

    async def attempt_now(self, delivery_id_: str) -> None:
        """Claim one delivery and attempt it inline (ping, redeliver)."""
        now = self.db.sql_now(self.clock())
        async with self.db.session() as session:
            claimed = await claims.claim_due(
                session,
                delivery_store.QUEUE,
                owner=self.owner,
                now=now,
                lease=self.lease,
                limit=1,
                row_id=delivery_id_,
            )
            subs = await subscription_store.by_ids(session, [d.subscription_id for d in claimed])
        for delivery in claimed:
            self._held.add(delivery.id)
            await self.attempt(delivery, subs.get(delivery.subscription_id))

    async def attempt(self, delivery: Delivery, sub: Subscription | None) -> None:
        """One attempt of a claimed delivery, recorded, then completed or rescheduled."""
        sent = await self._send(delivery, sub)
        if sent is None:
            return
        done: asyncio.Future[datetime | None] = asyncio.get_running_loop().create_future()
        self._record(delivery, *sent, done=done)
        retry_at = await done
        if retry_at is not None:
            self._schedule_retry(retry_at)  # the dispatcher holds it if within its horizon

    async def _send(
        self, delivery: Delivery, sub: Subscription | None, signed: dict[str, str] | None = None
    ) -> tuple[Subscription, AttemptResult, int, datetime] | None:
        """Make the attempt; ``None`` if there is nothing to record (the endpoint is
        gone and the delivery dead, or that could not be written)."""
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
                secrets=signing_secrets(sub, now),
                now=now,
                signed=signed,
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
        attempts = delivery.attempts + 1
        self._counted[result.outcome].inc()
        self.metrics.delivery_latency.observe(result.latency_ms / 1000)
        if logger.isEnabledFor(logging.INFO):  # ~10,000 a second in a burst
            logger.info(
                "delivery %s attempt %d to %s: %s",
                delivery.id,
                attempts,
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
        return sub, result, attempts, now

    def _record(
        self,
        delivery: Delivery,
        sub: Subscription,
        result: AttemptResult,
        attempts: int,
        now: datetime,
        *,
        done: asyncio.Future[datetime | None] | None,
    ) -> None:
        """Queue one attempt's outcome to be written; ``done`` (if given) learns
        when to retry, if ever. Without it the writer schedules the retry.

        Outcomes that arrive together are written in one transaction: under a
        burst, a transaction per attempt would queue the claims of the next
        due triggers behind hundreds of small writes.
        """
        self._outcomes.append((delivery, sub, result, attempts, now, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_outcomes())

    async def _write_outcomes(self) -> None:
        while self._outcomes:
            # Sending comes first: prepared messages due in a moment, and a burst
            # of messages being sent (its outcomes are then written in a few
            # large batches; until written, each stays claimed by this process,
            # so a crash means a repeat under the same id, not a loss).
            if not self._flushing:
                await self._quiet()
            batch, self._outcomes = self._outcomes[:CLAIM_BATCH], self._outcomes[CLAIM_BATCH:]
            ids = [item[0].id for item in batch]
            try:
                async with self.db.session() as session:
                    # a delivery deleted meanwhile (its event or webhook was)
                    # has nothing left to record
                    alive = await delivery_store.existing(session, ids)
                    for item in batch:
                        done = item[-1]
                        if item[0].id not in alive and done is not None and not done.done():
                            done.set_result(None)
                    batch = [item for item in batch if item[0].id in alive]
                    plain = [_plain_success(item[1], item[2]) for item in batch]
                    await self._record_successes(
                        session, [item for item, ok in zip(batch, plain, strict=True) if ok]
                    )
                    retries = [
                        None if ok else await self._record_one(session, *item[:5])
                        for item, ok in zip(batch, plain, strict=True)
                    ]
            except Exception as err:
                logger.exception(
                    "recording %d delivery outcomes failed; their claims expire and they "
                    "are sent again under the same ids",
                    len(batch),
                    extra={"action": "deliver"},
                )
                for *_, done in batch:
                    if done is not None and not done.done():
                        done.set_exception(err)
                continue
            finally:
                # written, or no longer renewed: a claim whose outcome could not be
                # written expires and the delivery is taken over
                self._held.difference_update(ids)
            for (*_, done), retry_at in zip(batch, retries, strict=True):
                if done is None:
                    if retry_at is not None:
                        self._schedule_retry(retry_at)
                elif not done.done():
                    done.set_result(retry_at)

    async def _record_successes(self, session: Any, batch: list[Any]) -> None:
        """Write plain successes with two statements for the whole batch."""
        if not batch:
            return
        finished = self.clock()
        attempts = [
            {
                "delivery_id": delivery.id,
                "attempt": attempts_made,
                "started_at": now,
                "status": result.status,
                "latency_ms": round(result.latency_ms, 3),
                "error": None,
                "response_excerpt": (result.excerpt or None) and result.excerpt[:1024],
            }
            for delivery, _sub, result, attempts_made, now, _done in batch
        ]
        await delivery_store.record_attempts(session, attempts)
        await delivery_store.finish_successes(
            session,
            [
                {
                    "row_id": delivery.id,
                    "owner": self.owner,
                    "claim": delivery.claim_attempt,
                    "attempts": attempts_made,
                    "status": result.status,
                    "finished": finished,
                }
                for delivery, _sub, result, attempts_made, _now, _done in batch
            ],
        )

    async def _record_one(
        self,
        session: Any,
        delivery: Delivery,
        sub: Subscription,
        result: AttemptResult,
        attempts: int,
        now: datetime,
    ) -> datetime | None:
        # the schedule counts from the attempt's end, not from when its outcome
        # happened to be written
        finished = now + timedelta(milliseconds=result.latency_ms)
        retry_at: datetime | None = None
        await delivery_store.record_attempt(
            session,
            DeliveryAttempt(
                delivery_id=delivery.id,
                attempt=attempts,
                started_at=now,
                status=result.status,
                latency_ms=round(result.latency_ms, 3),
                error=result.error,
                response_excerpt=(result.excerpt or None) and result.excerpt[:1024],
            ),
        )
        common = {
            "attempts": attempts,
            "last_status": result.status,
            "last_error": result.error,
        }
        if result.outcome is Outcome.SUCCESS:
            await delivery_store.complete(
                session,
                delivery,
                owner=self.owner,
                state=DeliveryState.SUCCEEDED.value,
                delivered_at=finished,
                **common,
            )
            if sub.failing_since is not None:
                await _update_sub(session, sub.id, failing_since=None)
            return None
        if result.outcome is Outcome.GONE:
            await delivery_store.complete(
                session, delivery, owner=self.owner, state=DeliveryState.DEAD.value, **common
            )
            await self._deactivate(session, sub, "the endpoint answered 410 Gone")
            return None
        delay = next_delay(
            attempts, self.settings.webhook_retry_schedule, retry_after=result.retry_after
        )
        if delay is None:
            state = DeliveryState.DEAD.value
            self.metrics.dead.inc()
            logger.warning(
                "delivery %s is dead after %d attempts",
                delivery.id,
                attempts,
                extra={"action": "deliver", "delivery_id": delivery.id},
            )
        else:
            state = DeliveryState.PENDING.value
            retry_at = finished + timedelta(seconds=delay)
            self.metrics.retries.inc()
        await delivery_store.complete(
            session,
            delivery,
            owner=self.owner,
            state=state,
            next_attempt_at=retry_at or finished,
            **common,
        )
        failing_since = sub.failing_since or now
        if sub.failing_since is None:
            await _update_sub(session, sub.id, failing_since=now)
        limit = timedelta(hours=self.settings.webhook_disable_after_hours)
        if now - failing_since >= limit:
            await self._deactivate(
                session,
                sub,
                f"no successful delivery since {failing_since.isoformat(timespec='seconds')}"
                f"; last error: {result.error}",
            )
            retry_at = None
        return retry_at

    async def _deactivate(self, session: Any, sub: Subscription, reason: str) -> None:
        await _update_sub(session, sub.id, active=False, disabled_reason=reason[:500])
        await delivery_store.kill_pending_for(
            session, sub.id, f"endpoint deactivated: {reason}"[:500]
        )
        logger.warning(
            "webhook %s deactivated: %s",
            sub.id,
            reason,
            extra={"action": "deactivate", "subscription_id": sub.id},
        )


#: a message handed to the senders: the delivery, its webhook, headers signed ahead
Outgoing = tuple[Delivery, Subscription | None, dict[str, str] | None]


def signing_secrets(sub: Subscription, at: datetime) -> list[str]:
    """The secrets that sign a message sent at ``at``: the webhook's secret, and
    during a rotation's grace period the previous one too."""
    secrets = [sub.secret]
    if sub.previous_secret and (
        sub.previous_secret_expires_at is None or sub.previous_secret_expires_at > at
    ):
        secrets.append(sub.previous_secret)
    return secrets


def _plain_success(sub: Subscription, result: AttemptResult) -> bool:
    """A success that changes nothing but its own delivery row (the common case)."""
    return result.outcome is Outcome.SUCCESS and sub.failing_since is None


async def _update_sub(session: Any, sub_id: str, **values: Any) -> None:
    await session.execute(
        update(Subscription).where(col(Subscription.id) == sub_id).values(**values)
    )
