"""Recording attempt outcomes: batched writes, the retry schedule, endpoint health.

Outcomes that arrive together are written in one transaction, once sending
has caught up (under a burst, a transaction per attempt would queue the
claims of the next due triggers behind hundreds of small writes): plain
successes with two statements for the whole batch, anything else one by one
with its retry time, dead-letter or endpoint deactivation. Until written, a
delivery stays claimed by this process, so a crash means a repeat under the
same ``webhook-id``, never a loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scheduler.config import Settings
from scheduler.exceptions import StoreConflict
from scheduler.metrics import Metrics
from scheduler.models import Delivery, DeliveryAttempt, DeliveryState, Subscription
from scheduler.reminders.endpoint_health import judge_endpoint
from scheduler.store import deliveries as delivery_store
from scheduler.store import subscriptions as subscription_store
from scheduler.store.database import Database
from scheduler.timezones import Clock
from scheduler.webhooks.delivery import AttemptResult, Outcome
from scheduler.webhooks.retries import next_delay

logger = logging.getLogger(__name__)

BATCH = 500  # outcomes per transaction


@dataclass(slots=True)
class AttemptRecord:
    """One attempt of a claimed delivery, to be written."""

    delivery: Delivery
    sub: Subscription
    result: AttemptResult
    attempt: int  # this attempt's number, from 1
    started_at: datetime
    #: learns when to retry (``None``: never); without it the writer schedules the retry
    done: asyncio.Future[datetime | None] | None = None
    again: bool = False  # written once more after a clash with a concurrent delete

    @property
    def plain_success(self) -> bool:
        """A success that changes nothing but its own delivery row (the common case)."""
        return self.result.outcome is Outcome.SUCCESS and self.sub.failing_since is None

    def log_row(self) -> dict[str, Any]:
        result = self.result
        return {
            "delivery_id": self.delivery.id,
            "attempt": self.attempt,
            "started_at": self.started_at,
            "status": result.status,
            "latency_ms": round(result.latency_ms, 3),
            "error": result.error,
            "response_excerpt": (result.excerpt or None) and result.excerpt[:1024],
        }

    def settle(self, retry_at: datetime | None = None, error: BaseException | None = None) -> None:
        if self.done is None or self.done.done():
            return
        if error is not None:
            self.done.set_exception(error)
        else:
            self.done.set_result(retry_at)


class OutcomeWriter:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        metrics: Metrics,
        *,
        owner: str,
        quiet: Callable[[], Awaitable[None]],  # waits for a moment when writing delays no send
        schedule_retry: Callable[[datetime], None],
        written: Callable[[Collection[str]], None],  # these claims are no longer ours to renew
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.owner = owner
        self._quiet = quiet
        self._schedule_retry = schedule_retry
        self._written = written
        self._queue: list[AttemptRecord] = []
        self._writer: asyncio.Task[None] | None = None
        self._flushing = False

    def record(self, record: AttemptRecord) -> None:
        self._queue.append(record)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_all())

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
                len(self._queue),
                extra={"action": "shutdown"},
            )

    async def _write_all(self) -> None:
        while self._queue:
            if not self._flushing:
                await self._quiet()
            batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
            ids = [record.delivery.id for record in batch]
            requeued = False
            try:
                async with self.db.session() as session:
                    # a delivery deleted meanwhile (its event or webhook was)
                    # has nothing left to record
                    alive = await delivery_store.existing(session, ids)
                    for record in batch:
                        if record.delivery.id not in alive:
                            record.settle(None)
                    batch = [record for record in batch if record.delivery.id in alive]
                    await self._write_successes(session, [r for r in batch if r.plain_success])
                    retries = [
                        None if record.plain_success else await self._write_one(session, record)
                        for record in batch
                    ]
            except StoreConflict as err:
                # a webhook or event deleted between the check and the write: once
                # more, and the deleted deliveries drop out at the check
                if not all(record.again for record in batch):
                    for record in batch:
                        record.again = True
                    self._queue[:0] = batch
                    requeued = True
                    continue
                logger.warning(
                    "recording %d delivery outcomes clashed twice with concurrent "
                    "changes; their claims expire and they are sent again under the same ids",
                    len(batch),
                    extra={"action": "deliver"},
                )
                for record in batch:
                    record.settle(error=err)
                continue
            except Exception as err:
                logger.exception(
                    "recording %d delivery outcomes failed; their claims expire and they "
                    "are sent again under the same ids",
                    len(batch),
                    extra={"action": "deliver"},
                )
                for record in batch:
                    record.settle(error=err)
                continue
            finally:
                # written, or no longer renewed: a claim whose outcome could not be
                # written expires and the delivery is taken over
                if not requeued:
                    self._written(ids)
            for record, retry_at in zip(batch, retries, strict=True):
                if record.done is None:
                    if retry_at is not None:
                        self._schedule_retry(retry_at)
                else:
                    record.settle(retry_at)

    async def _write_successes(self, session: Any, batch: list[AttemptRecord]) -> None:
        """Write plain successes with two statements for the whole batch."""
        if not batch:
            return
        finished = self.clock()
        await delivery_store.record_attempts(session, [record.log_row() for record in batch])
        await delivery_store.finish_successes(
            session,
            [
                {
                    "row_id": record.delivery.id,
                    "owner": self.owner,
                    "claim": record.delivery.claim_attempt,
                    "attempts": record.attempt,
                    "status": record.result.status,
                    "finished": finished,
                }
                for record in batch
            ],
        )

    async def _write_one(self, session: Any, record: AttemptRecord) -> datetime | None:
        """Write one attempt that is not a plain success; returns when to retry."""
        delivery, sub, result = record.delivery, record.sub, record.result
        # the schedule counts from the attempt's end, not from when its outcome
        # happened to be written
        finished = record.started_at + timedelta(milliseconds=result.latency_ms)
        await delivery_store.record_attempt(session, DeliveryAttempt(**record.log_row()))
        common = {
            "attempts": record.attempt,
            "last_status": result.status,
            "last_error": result.error,
        }
        retry_at: datetime | None = None
        if result.outcome is Outcome.SUCCESS:
            state = DeliveryState.SUCCEEDED.value
            await delivery_store.complete(
                session, delivery, owner=self.owner, state=state, delivered_at=finished, **common
            )
        elif result.outcome is Outcome.GONE:
            await delivery_store.complete(
                session, delivery, owner=self.owner, state=DeliveryState.DEAD.value, **common
            )
        else:
            delay = next_delay(
                record.attempt, self.settings.webhook_retry_schedule, retry_after=result.retry_after
            )
            if delay is None:
                state = DeliveryState.DEAD.value
                self.metrics.dead.inc()
                logger.warning(
                    "delivery %s is dead after %d attempts",
                    delivery.id,
                    record.attempt,
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
        verdict = judge_endpoint(
            outcome=result.outcome,
            failing_since=sub.failing_since,
            now=record.started_at,
            error=result.error,
            disable_after=timedelta(hours=self.settings.webhook_disable_after_hours),
        )
        if verdict.changes_failing_since:
            await subscription_store.set_fields(
                session, sub.id, failing_since=verdict.failing_since
            )
        if verdict.deactivate is not None:
            await self._deactivate(session, sub, verdict.deactivate)
            retry_at = None
        return retry_at

    async def _deactivate(self, session: Any, sub: Subscription, reason: str) -> None:
        await subscription_store.set_fields(
            session, sub.id, active=False, disabled_reason=reason[:500]
        )
        await delivery_store.kill_pending_for(
            session, sub.id, f"endpoint deactivated: {reason}"[:500]
        )
        logger.warning(
            "webhook %s deactivated: %s",
            sub.id,
            reason,
            extra={"action": "deactivate", "subscription_id": sub.id},
        )
