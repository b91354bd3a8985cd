"""Webhook bodies. Pure: the body is fixed when a trigger fans out, so every
retry of one delivery sends the same bytes under the same ``webhook-id``."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from scheduler.timezones import isoformat_utc


def delivery_id(trigger_id: str, generation: int, subscription_id: str) -> str:
    """The ``webhook-id`` of one trigger firing for one subscription: stable, unique."""
    digest = hashlib.sha256(f"{trigger_id}|{generation}|{subscription_id}".encode()).hexdigest()
    return f"msg_{digest[:40]}"


def build_body(
    *,
    type_: str,
    now: datetime,
    event: dict[str, Any] | None,
    minutes_before: int | None = None,
    scheduled_for: datetime | None = None,
    late_by_seconds: float | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """``{"type", "timestamp", "data": {...}}`` as compact JSON text."""
    data: dict[str, Any] = {"event": event}
    if minutes_before is not None:
        data["minutes_before"] = minutes_before
    if scheduled_for is not None:
        data["scheduled_for"] = isoformat_utc(scheduled_for)
    if late_by_seconds is not None:
        data["late_by_seconds"] = round(late_by_seconds, 3)
    if extra:
        data.update(extra)
    body = {"type": type_, "timestamp": isoformat_utc(now), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
