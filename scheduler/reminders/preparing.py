"""Preparing: claim the triggers due soon, judge them, fan them out, hold their messages.

One transaction claims every trigger due within the lookahead (or under an
expired claim), judges each as of its due time and writes one delivery per
matching subscription, claimed by this process (``reminders.fanout``). What
was due already goes to the senders right after the commit; the rest is
signed now, not in the instant's rush, and held in memory
(``reminders.prepared``) until its instant. Should this process die before the
messages are acknowledged, their leases expire (or, on PostgreSQL, its
advisory lock frees at once) and any replica sends them under the same
``webhook-id``.

Pacing: the prepare pass for a burst runs half the lookahead before it,
earlier by the time preparing its backlog takes (:class:`Pacing`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from scheduler.config import Settings
from scheduler.models import Delivery, Event, Subscription
from scheduler.reminders.completions import Completions
from scheduler.reminders.fanout import FanOut, audience_keys, fan_out
from scheduler.reminders.messages import Message, signed_headers
from scheduler.reminders.prepared import PreparedMessages
from scheduler.reminders.sending import Senders
from scheduler.store import claims
from scheduler.store import deliveries as delivery_store
from scheduler.store import events as event_store
from scheduler.store import subscriptions as subscription_store
from scheduler.store import triggers as trigger_store
from scheduler.store.database import Database
from scheduler.timezones import Clock

CLAIM_BATCH = 500  # triggers per claiming transaction


#: the cost of preparing one trigger assumed before any was measured: cautious, since
#: the first burst after a start is the one users meet, and a cold process (zone
#: data not loaded, statements not compiled, files not in the page cache) is slow
COLD_SECONDS_PER_TRIGGER = 0.005


class Pacing:
    """How long before a burst its preparation must start.

    The cost of preparing one trigger starts from :data:`COLD_SECONDS_PER_TRIGGER`;
    the first pass measured replaces it, later passes adjust it (an EWMA).
    Preparing early costs little (messages wait in memory, a change takes them
    back); preparing late makes a burst late.
    """

    def __init__(self, lookahead: timedelta, horizon_seconds: float) -> None:
        self.lookahead = lookahead
        self.horizon = horizon_seconds
        self.seconds_per_trigger = COLD_SECONDS_PER_TRIGGER
        self.measured_any = False
        self.ahead = lookahead  # how far ahead the next pass claims

    def measured(self, seconds: float, triggers: int) -> None:
        cost = seconds / triggers
        if not self.measured_any:
            self.measured_any = True
            self.seconds_per_trigger = cost
        else:
            self.seconds_per_trigger += 0.3 * (cost - self.seconds_per_trigger)

    def lead(self, backlog: int) -> timedelta:
        """How long before its instant to prepare a burst of ``backlog`` triggers."""
        lead = self.lookahead / 2
        if self.lookahead:
            extra = min(backlog * self.seconds_per_trigger, self.horizon / 2)
            lead += timedelta(seconds=extra)
        return lead


class Preparer:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        *,
        owner: str,
        senders: Senders,
        prepared: PreparedMessages,
        completions: Completions,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.owner = owner
        self.lease = timedelta(seconds=settings.claim_lease_seconds)
        self.senders = senders
        self.prepared = prepared
        self.completions = completions
        self.pacing = Pacing(
            timedelta(seconds=settings.dispatch_lookahead_seconds),
            settings.scheduler_horizon_seconds,
        )

    async def arm_time(self, session: Any, instant: datetime) -> datetime:
        """When to prepare the burst due at ``instant`` (app clock)."""
        backlog = 0
        if self.pacing.lookahead:
            backlog = await claims.count_due(
                session, trigger_store.QUEUE, until=instant + self.pacing.lookahead
            )
        lead = self.pacing.lead(backlog)
        self.pacing.ahead = max(self.pacing.lookahead, lead + self.pacing.lookahead / 2)
        return instant - lead

    async def prepare_due(self) -> list[Event]:
        """Claim, judge and fan out every trigger due within the lookahead; send
        what is due, hold the rest. Returns the starts and ends processed now."""
        lifecycle: list[Event] = []
        while True:
            now = self.db.sql_now(self.clock())
            began = time.perf_counter()
            async with self.db.session() as session:
                claimed = await claims.claim_due(
                    session,
                    trigger_store.QUEUE,
                    owner=self.owner,
                    now=now,
                    lease=self.lease,
                    limit=CLAIM_BATCH,
                    ahead=self.pacing.ahead,
                )
                if not claimed:
                    break
                events = await event_store.by_ids(session, {t.event_id for t in claimed})
                audience = {
                    (type_, channel): await subscription_store.matching(session, type_, channel)
                    for type_, channel in audience_keys(claimed, events)
                }
                out = fan_out(
                    claimed,
                    events=events,
                    audience=audience,
                    clock=self.clock,
                    owner=self.owner,
                    lease=self.lease,
                    grace_seconds=self.settings.trigger_grace_seconds,
                )
                completions = [
                    self.completions.complete(j.trigger, j.state, j.at, j.late) for j in out.judged
                ]
                await trigger_store.finish_claims(session, [c.row() for c in completions])
                inserted = await delivery_store.insert_new(session, out.deliveries)
            self.pacing.measured(time.perf_counter() - began, len(claimed))
            self._hand_over(out, inserted)
            lifecycle += out.lifecycle
            if len(claimed) < CLAIM_BATCH:
                break
        return lifecycle

    def _hand_over(self, out: FanOut, inserted: set[str]) -> None:
        """Messages due now to the senders; the others, signed ahead, held.

        A delivery that already existed (a trigger fanned out again after a
        crash) is not ours to send: the outbox picks it up when it is due. The
        rows were validated when built; ``model_construct`` skips validating
        them again (~30 us each, which matters at 10,000 per burst).
        """
        for row in out.deliveries:
            if row["id"] not in inserted:
                continue
            delivery = Delivery.model_construct(**row)
            sub: Subscription = out.subscribers[row["subscription_id"]]
            item = out.prepared.get(row["trigger_id"])
            if item is None:
                self.senders.send(Message(delivery, sub))
                continue
            # signed now: the due time is its timestamp
            item.sends.append(
                Message(delivery, sub, signed_headers(delivery, sub, item.trigger.due_at))
            )
        self.prepared.hold(list(out.prepared.values()))
