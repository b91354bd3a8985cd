"""The one exception tree of broadcast-scheduler.

Every error the program raises on purpose derives from :class:`SchedulerError`.
Each class says who raises it and when; the HTTP layer maps the tree to status
codes in one place (``scheduler.http.problems``), the CLI prints ``str(err)``.
Messages are written for the person who has to act on them.
"""

from __future__ import annotations


class SchedulerError(Exception):
    """Root of every deliberate error in the package."""

    #: a short, stable slug naming the kind of problem (used in problem+json ``type``)
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(SchedulerError):
    """Raised by ``scheduler.config`` when a setting is missing or invalid.

    The message names the setting and where its value came from, so the
    service can stop with one clear line.
    """

    code = "invalid-setting"


class InvalidInput(SchedulerError):
    """Raised by services and domain code when input cannot be accepted.

    ``field`` names the input field at fault (``None`` when the whole request
    is at fault); the HTTP layer answers 422.
    """

    code = "invalid-input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def for_field(self, field: str) -> InvalidInput:
        """Return this error attached to ``field`` (domain code does not know field names)."""
        self.field = field
        return self


class BadFeedQuery(InvalidInput):
    """Raised for a feed URL whose query string the feed does not take (HTTP 400:
    a calendar app shows the error instead of subscribing to the wrong feed)."""

    code = "bad-feed-query"


class UnknownTimezone(InvalidInput):
    """Raised by ``scheduler.timezones`` for a name that is not an IANA zone."""

    code = "unknown-timezone"


class InvalidLocalTime(InvalidInput):
    """Raised by ``scheduler.timezones`` when a time string cannot be read."""

    code = "invalid-time"


class NonexistentLocalTime(InvalidInput):
    """Raised by ``scheduler.timezones`` for a wall time skipped by a clock change.

    Example: 2019-03-31T02:30 in Europe/Brussels, where clocks jump from 02:00
    to 03:00.
    """

    code = "nonexistent-local-time"


class AmbiguousLocalTime(InvalidInput):
    """Raised by ``scheduler.timezones`` for a wall time that happens twice.

    Example: 2019-10-27T02:30 in Europe/Brussels without a UTC offset. The
    message lists the offsets that settle it.
    """

    code = "ambiguous-local-time"

    def __init__(self, message: str, *, offsets: list[str], field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.offsets = offsets


class OffsetMismatch(InvalidInput):
    """Raised by ``scheduler.timezones`` when an explicit UTC offset is not the zone's.

    Example: 2018-05-22T18:15+01:00 in Europe/Brussels, which is +02:00 in May.
    """

    code = "offset-mismatch"


class InvalidTimeRange(InvalidInput):
    """Raised by ``scheduler.timezones`` when an event's end is not after its start."""

    code = "invalid-time-range"


class InvalidRule(InvalidInput):
    """Raised by ``scheduler.series.rules`` for a recurrence rule that cannot be
    read, is not a broadcast schedule, yields nothing or expands past a limit."""

    code = "invalid-rule"

    def __init__(self, message: str, *, field: str | None = "rrule") -> None:
        super().__init__(message, field=field)


class NotFound(SchedulerError):
    """Raised by services when the thing asked for does not exist (HTTP 404)."""

    code = "not-found"


class Conflict(SchedulerError):
    """Raised by services when a request clashes with the current state (HTTP 409)."""

    code = "conflict"


class StoreConflict(Conflict):
    """Raised by the store when a write clashes with what the database holds (a
    unique key taken, a row referred to that was deleted meanwhile) (HTTP 409)."""

    code = "conflict"


class PreconditionFailed(SchedulerError):
    """Raised by services when a write's ``If-Match`` no longer names the row's version."""

    code = "precondition-failed"


class TooLarge(SchedulerError):
    """Raised when a request body passes the size its endpoint takes (HTTP 413)."""

    code = "too-large"


class IdempotencyKeyReused(InvalidInput):
    """Raised by the event service when an ``Idempotency-Key`` comes back with another body."""

    code = "idempotency-key-reused"


class Unauthorized(SchedulerError):
    """Raised by the HTTP auth check for a missing or wrong bearer token (HTTP 401)."""

    code = "unauthorized"


class Overloaded(SchedulerError):
    """Raised by a service that is already doing as much of some costly work as
    it allows itself (rule checks of series); retrying shortly works (HTTP 503)."""

    code = "overloaded"


class StoreUnavailable(SchedulerError):
    """Raised by the store when the database cannot be reached (HTTP 503).

    The driver's own error is chained with ``raise ... from err``.
    """

    code = "database-unavailable"


class StoreBusy(StoreUnavailable):
    """Raised by the store when the database gave up on a transaction because of a
    conflict with another (deadlock, serialization failure); retrying works (HTTP 503)."""

    code = "database-busy"
