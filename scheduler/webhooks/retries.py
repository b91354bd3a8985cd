"""When to try a failed delivery again. Pure.

The schedule (setting ``webhook_retry_schedule``) gives the base delay before
each retry; a random jitter of up to 10 % spreads retries of many deliveries
that failed together. ``Retry-After`` on a 429 wins when it asks for longer.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER = 24 * 3600.0  # a receiver cannot park a delivery for more than a day
JITTER = 0.1


def next_delay(
    attempts_made: int,
    schedule: Sequence[float],
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt, or ``None`` when the schedule is used up."""
    if attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    delay = base * (1 + JITTER * (rng or random).random())
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
