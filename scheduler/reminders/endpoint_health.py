"""Endpoint health: what one attempt's outcome means for its webhook. Pure.

A success clears the endpoint's ``failing_since``; ``410 Gone`` deactivates it
at once; any other failure starts (or continues) its failing period, and an
endpoint failing for ``webhook_disable_after_hours`` is deactivated with the
reason and last error, so its pending messages stop being retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.webhooks.delivery import Outcome


@dataclass(frozen=True)
class EndpointVerdict:
    #: the endpoint's new ``failing_since`` (``None``: healthy), if it changes
    failing_since: datetime | None
    changes_failing_since: bool
    #: why to deactivate the endpoint now, if at all
    deactivate: str | None = None


UNCHANGED = EndpointVerdict(None, changes_failing_since=False)


def judge_endpoint(
    *,
    outcome: Outcome,
    failing_since: datetime | None,
    now: datetime,
    error: str | None,
    disable_after: timedelta,
) -> EndpointVerdict:
    """The endpoint's fate after an attempt made at ``now`` ended with ``outcome``."""
    if outcome is Outcome.SUCCESS:
        if failing_since is None:
            return UNCHANGED
        return EndpointVerdict(None, changes_failing_since=True)
    if outcome is Outcome.GONE:
        return EndpointVerdict(None, False, deactivate="the endpoint answered 410 Gone")
    since = failing_since or now
    reason = None
    if now - since >= disable_after:
        reason = (
            f"no successful delivery since {since.isoformat(timespec='seconds')}"
            f"; last error: {error}"
        )
    return EndpointVerdict(since, changes_failing_since=failing_since is None, deactivate=reason)
