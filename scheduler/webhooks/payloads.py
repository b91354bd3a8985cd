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


def restamp(body: str, *, now: datetime) -> str | None:
    """The body of a first attempt sent at ``now``, later than it was built for:
    ``timestamp`` becomes ``now`` and ``late_by_seconds`` the lateness it really
    has. ``None`` when nothing changes (not a scheduled message, or on time).

    A message prepared ahead carries the lateness it would have at its instant;
    when its process died before sending it and another sends it after taking
    its claim over, the receiver must learn how late it really is. The
    ``webhook-id`` stays the same: receivers deduplicate on it.
    """
    parsed = json.loads(body)
    data = parsed.get("data")
    if not isinstance(data, dict) or "late_by_seconds" not in data or "scheduled_for" not in data:
        return None
    scheduled = datetime.fromisoformat(str(data["scheduled_for"]).replace("Z", "+00:00"))
    late = round(max(0.0, (now - scheduled).total_seconds()), 3)
    if late <= data["late_by_seconds"]:
        return None
    data["late_by_seconds"] = late
    parsed["timestamp"] = isoformat_utc(now)
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)
