"""A webhook message as the engine hands it around, and the one place it is signed.

A message is a claimed delivery, the subscription it goes to (``None`` when
the webhook was deleted meanwhile) and, when it was prepared ahead, headers
signed with its due time as ``webhook-timestamp``; otherwise it is signed
with the moment it leaves. Both go through :func:`signed_headers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduler.models import Delivery, Subscription, WebhookFormat
from scheduler.webhooks.signing import sign_headers, signing_secrets


@dataclass(slots=True)
class Message:
    delivery: Delivery
    sub: Subscription | None
    headers: dict[str, str] | None = None  # signed ahead (prepared messages)


def signed_headers(delivery: Delivery, sub: Subscription, at: datetime) -> dict[str, str]:
    """Standard Webhooks headers for ``delivery`` to ``sub``, timestamped ``at``.

    A chat-format webhook (Slack, Discord, Teams) is not signed: those platforms
    authenticate by the secret URL and ignore signatures. It keeps ``webhook-id``,
    the same on every attempt, for anyone who logs or relays it.
    """
    if sub.format != WebhookFormat.STANDARD:
        return {"webhook-id": delivery.id}
    secrets = signing_secrets(sub.secret, sub.previous_secret, sub.previous_secret_expires_at, at)
    return sign_headers(msg_id=delivery.id, timestamp=at, body=delivery.payload, secrets_=secrets)
