"""Standard Webhooks signatures, made by the ``standardwebhooks`` package.

During a secret rotation both the new and the old secret sign, separated by a
space, as the spec allows; receivers with either secret verify.
"""

from __future__ import annotations

import base64
import functools
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


@functools.lru_cache(maxsize=4096)
def _signer(secret: str) -> Webhook:
    """One ``Webhook`` per secret (it decodes the key once, not per message)."""
    return Webhook(secret)


def sign_headers(
    *, msg_id: str, timestamp: datetime, body: str, secrets_: Sequence[str]
) -> dict[str, str]:
    signatures = [_signer(secret).sign(msg_id, timestamp, body) for secret in secrets_]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def signing_secrets(
    secret: str, previous: str | None, previous_expires_at: datetime | None, at: datetime
) -> list[str]:
    """The secrets that sign a message sent at ``at``: the webhook's secret, and
    during a rotation's grace period the previous one too."""
    if previous and (previous_expires_at is None or previous_expires_at > at):
        return [secret, previous]
    return [secret]
