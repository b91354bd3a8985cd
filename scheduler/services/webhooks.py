"""The webhook service: subscriptions, their secrets, pings, the delivery log.

A subscription's secret is generated here and returned once (at creation and
at rotation); afterwards no response or log line carries it. Rotation keeps
the old secret signing alongside the new one for ``webhook_secret_grace_hours``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from scheduler.config import Settings
from scheduler.etags import check_if_match
from scheduler.exceptions import InvalidInput, NotFound
from scheduler.inputs import looks_like_id
from scheduler.models import (
    PING_TYPE,
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    Subscription,
    SubscriptionCreate,
    SubscriptionUpdate,
    WebhookFormat,
)
from scheduler.models.changes import Change, ChangeKind
from scheduler.services.publishing import ChangePublisher
from scheduler.store import deliveries as delivery_store
from scheduler.store import subscriptions as subscription_store
from scheduler.store.changes import this_process
from scheduler.store.database import Database, Session
from scheduler.timezones import Clock
from scheduler.webhooks.chat import chat_body, ping_notice
from scheduler.webhooks.payloads import build_body
from scheduler.webhooks.signing import generate_secret
from scheduler.webhooks.targets import check_target

if TYPE_CHECKING:
    from scheduler.reminders.dispatch import Dispatcher

MAX_LOG_PAGE = 200
#: how long a ping or redelivery is kept from the drain while its request attempts it
INLINE_ATTEMPT_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class DeliveryView:
    delivery: Delivery
    attempts: list[DeliveryAttempt]


class WebhookService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        dispatcher: Dispatcher | None,
        *,
        origin: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.dispatcher = dispatcher  # attempts pings and redeliveries at once
        self.changes = ChangePublisher(origin or this_process(settings.replica_id))

    def subscribe(self, listener: Callable[[Change], Awaitable[None]]) -> None:
        """Call ``listener`` after every committed change of a webhook."""
        self.changes.subscribe(listener)

    async def _record(self, session: Session, sub_id: str) -> None:
        await self.changes.record(session, ChangeKind.WEBHOOK, sub_id)

    async def _changed(self, sub_id: str, sub: Subscription | None) -> None:
        """Every listener (this process's dispatcher: messages it prepared go out to
        the webhook as it now is) hears of the committed change."""
        await self.changes.publish(Change(ChangeKind.WEBHOOK, sub_id, subscription=sub))

    async def _check_url(self, url: str) -> None:
        await check_target(url, allow_private=self.settings.allow_private_webhook_targets)

    async def create(self, data: SubscriptionCreate) -> Subscription:
        await self._check_url(data.url)
        now = self.clock()
        sub = Subscription(
            url=data.url,
            types=list(data.types),
            format=data.format,
            channel=data.channel,
            description=data.description,
            secret=generate_secret(),
            created_at=now,
            updated_at=now,
        )
        async with self.db.session() as session:
            await subscription_store.add(session, sub)
            await self._record(session, sub.id)
        await self._changed(sub.id, sub)
        return sub

    async def get(self, sub_id: str) -> Subscription:
        async with self.db.session() as session:
            sub = await subscription_store.require(session, sub_id)
        return sub

    async def list_all(self) -> Sequence[Subscription]:
        async with self.db.session() as session:
            return await subscription_store.list_all(session)

    async def update(
        self, sub_id: str, data: SubscriptionUpdate, *, if_match: str | None = None
    ) -> Subscription:
        fields = data.model_dump(exclude_unset=True)
        for required in ("url", "types", "active", "format"):
            if required in fields and fields[required] is None:
                raise InvalidInput(f"{required} cannot be removed", field=required)
        if "url" in fields:
            await self._check_url(fields["url"])
        async with self.db.session() as session:
            sub = await subscription_store.require(session, sub_id, for_update=True)
            check_if_match(if_match, sub, what="webhook")
            for name, value in fields.items():
                setattr(sub, name, value)
            if fields.get("active") is True:
                sub.disabled_reason = None
                sub.failing_since = None
            sub.updated_at = self.clock()
            subscription_store.save(session, sub)
            await self._record(session, sub_id)
        await self._changed(sub_id, sub)
        return sub

    async def delete(self, sub_id: str, *, if_match: str | None = None) -> None:
        async with self.db.session() as session:
            sub = await subscription_store.require(session, sub_id, for_update=True)
            check_if_match(if_match, sub, what="webhook")
            await subscription_store.remove(session, sub)
            await self._record(session, sub_id)
        await self._changed(sub_id, None)

    async def rotate_secret(self, sub_id: str, *, if_match: str | None = None) -> Subscription:
        now = self.clock()
        async with self.db.session() as session:
            sub = await subscription_store.require(session, sub_id, for_update=True)
            check_if_match(if_match, sub, what="webhook")
            sub.previous_secret = sub.secret
            sub.previous_secret_expires_at = now + timedelta(
                hours=self.settings.webhook_secret_grace_hours
            )
            sub.secret = generate_secret()
            sub.updated_at = now
            subscription_store.save(session, sub)
            await self._record(session, sub_id)
        await self._changed(sub_id, sub)
        return sub

    async def ping(self, sub_id: str) -> DeliveryView:
        """Send a ``webhook.ping`` now and return its delivery with the attempt made."""
        sub = await self.get(sub_id)
        now = self.clock()
        delivery = Delivery(
            id=f"msg_ping_{uuid.uuid4().hex}",
            subscription_id=sub.id,
            type=PING_TYPE,
            payload=_ping_body(sub, now),
            state=DeliveryState.PENDING.value,
            # due a little later: the attempt below claims it by id at once, and a
            # drain running meanwhile must not take it from this request (its answer
            # would then show "delivering"); should this process die first, any
            # process sends it then
            next_attempt_at=now + INLINE_ATTEMPT_GRACE,
            created_at=now,
        )
        async with self.db.session() as session:
            await delivery_store.add(session, delivery)
        if self.dispatcher is not None:
            await self.dispatcher.attempt_now(delivery.id)
        return await self.delivery(sub_id, delivery.id)

    async def deliveries(
        self, sub_id: str, *, limit: int = 50, state: str | None = None
    ) -> list[DeliveryView]:
        await self.get(sub_id)
        if not 1 <= limit <= MAX_LOG_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_LOG_PAGE}", field="limit")
        if state is not None and state not in {s.value for s in DeliveryState}:
            allowed = ", ".join(s.value for s in DeliveryState)
            raise InvalidInput(f"state must be one of {allowed}", field="state")
        async with self.db.session() as session:
            rows = await delivery_store.for_subscription(session, sub_id, limit=limit, state=state)
            attempts = await delivery_store.attempts_for(session, [d.id for d in rows])
        return [DeliveryView(d, attempts.get(d.id, [])) for d in rows]

    async def delivery(self, sub_id: str, delivery_id: str) -> DeliveryView:
        if not looks_like_id(delivery_id):
            raise NotFound(f"no delivery {delivery_id[:80]!r} for webhook {sub_id[:80]!r}")
        async with self.db.session() as session:
            delivery = await delivery_store.get(session, delivery_id)
            if delivery is None or delivery.subscription_id != sub_id:
                raise NotFound(f"no delivery {delivery_id!r} for webhook {sub_id!r}")
            attempts = await delivery_store.attempts_for(session, [delivery.id])
        return DeliveryView(delivery, attempts.get(delivery.id, []))

    async def redeliver(self, sub_id: str, delivery_id: str) -> DeliveryView:
        """Queue the delivery again now, with the same ``webhook-id`` and body."""
        await self.delivery(sub_id, delivery_id)
        async with self.db.session() as session:
            # due a little later, as a ping: the attempt below claims it by id
            await delivery_store.requeue(
                session, delivery_id, now=self.clock() + INLINE_ATTEMPT_GRACE
            )
        if self.dispatcher is not None:
            await self.dispatcher.attempt_now(delivery_id)
        return await self.delivery(sub_id, delivery_id)


def _ping_body(sub: Subscription, now: datetime) -> str:
    """``webhook.ping`` in the webhook's format (a chat channel gets a line saying
    it is connected)."""
    if sub.format == WebhookFormat.STANDARD:
        return build_body(type_=PING_TYPE, now=now, event=None, extra={"webhook_id": sub.id})
    return chat_body(sub.format, ping_notice(list(sub.types), sub.channel))
