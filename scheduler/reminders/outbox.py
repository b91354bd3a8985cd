"""The outbox: due deliveries from the database, claimed in batches for the senders.

Deliveries are database rows (``scheduler.store.deliveries``). What falls due
(a retry, a message of a process that died, one a change put back) is claimed
in batches of up to the senders' free room (claiming one row whenever a
sender frees up would cost a transaction per message) and handed to the
sender pool. Leases of claimed rows that wait are renewed by the dispatcher.

A first attempt that goes out after its instant, not from memory at the
instant (its process died before sending it, or with it in flight), is
restamped with the lateness it really has (``late_by_seconds``, and
``timestamp``); the new body is stored so its retries send the same bytes,
under the same ``webhook-id``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from scheduler.models import Delivery
from scheduler.reminders.messages import Message
from scheduler.reminders.sending import Senders
from scheduler.store import claims
from scheduler.store import deliveries as delivery_store
from scheduler.store import subscriptions as subscription_store
from scheduler.store.database import Database
from scheduler.timezones import Clock
from scheduler.webhooks.payloads import restamp

logger = logging.getLogger(__name__)


class Outbox:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        senders: Senders,
        *,
        owner: str,
        lease_seconds: float,
    ) -> None:
        self.db = db
        self.clock = clock
        self.senders = senders
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self._draining = False
        self._drain_again = False

    async def drain(self) -> None:
        """Hand every due delivery to the senders."""
        if self._draining:
            self._drain_again = True
            return
        self._draining = True
        try:
            self._drain_again = True
            while self._drain_again:
                self._drain_again = False
                await self._drain_once()
        finally:
            self._draining = False

    async def _drain_once(self) -> None:
        while True:
            limit = await self.senders.room()
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
                    bodies = restamped(claimed, self.clock())
                    await delivery_store.set_payloads(session, bodies)
            except Exception:
                logger.exception("claiming deliveries failed", extra={"action": "deliver"})
                return
            for delivery in claimed:
                delivery.payload = bodies.get(delivery.id, delivery.payload)
                self.senders.send(Message(delivery, subs.get(delivery.subscription_id)))
            if len(claimed) < limit:
                return

    async def attempt_now(self, delivery_id: str) -> datetime | None:
        """Claim one delivery and attempt it inline (ping, redeliver); when to retry."""
        now = self.db.sql_now(self.clock())
        async with self.db.session() as session:
            claimed = await claims.claim_due(
                session,
                delivery_store.QUEUE,
                owner=self.owner,
                now=now,
                lease=self.lease,
                limit=1,
                row_id=delivery_id,
            )
            subs = await subscription_store.by_ids(session, [d.subscription_id for d in claimed])
        retry_at = None
        for delivery in claimed:
            retry_at = await self.senders.attempt(
                Message(delivery, subs.get(delivery.subscription_id))
            )
        return retry_at


#: a first attempt sent this much after its instant says how late it really is
RESTAMP_AFTER_SECONDS = 0.1


def restamped(claimed: Sequence[Delivery], now: datetime) -> dict[str, str]:
    """Bodies of never-attempted deliveries sent after their instant, restamped
    with the lateness they really have. A body that cannot be restamped (an odd
    one from an older version) goes out as it is: it must never stop the drain."""
    bodies: dict[str, str] = {}
    for delivery in claimed:
        late = (now - delivery.next_attempt_at).total_seconds()
        if delivery.attempts or late < RESTAMP_AFTER_SECONDS:
            continue
        try:
            body = restamp(delivery.payload, now=now)
        except Exception:
            logger.warning(
                "could not restamp delivery %s; sent as prepared",
                delivery.id,
                extra={"action": "deliver", "delivery_id": delivery.id},
            )
            continue
        if body is not None:
            bodies[delivery.id] = body
    return bodies
