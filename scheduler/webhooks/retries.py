"""When to try a failed delivery again. Pure.

The schedule (setting ``webhook_retry_schedule``) gives the base delay before
each retry; a random jitter of up to 10 % spreads retries of many deliveries
that failed together. ``Retry-After`` on a 429 or 503 wins when it asks for
longer, up to a day. The header comes from a stranger's server, so it is read
strictly: delta-seconds through the one number parser
(:func:`scheduler.inputs.parse_count`) or an HTTP date; anything else is
ignored and the schedule alone decides.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime

from scheduler.exceptions import InvalidInput
from scheduler.inputs import parse_count

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
    """Seconds asked for by a ``Retry-After`` header, or ``None`` if it says nothing usable.

    RFC 9110 allows delta-seconds (ASCII digits) or an HTTP date; a date in the
    past means "now" (0). Unicode digits, signs, exponents, fractions, numbers
    longer than the parser takes and unreadable dates are ignored.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return float(parse_count(value, field="Retry-After"))
    except InvalidInput:
        pass  # not delta-seconds: perhaps a date
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
