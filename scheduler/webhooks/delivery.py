"""Sending one webhook attempt over HTTP, and judging the answer.

One shared aiohttp ``ClientSession`` per process (a ``cleanup_ctx``), with a
connection limit, a total timeout, no redirects followed, no decompression,
response bodies read only up to a cap, response lines and headers bounded, and
(unless private targets are allowed) a check of every address it connects to.

The receiver is a stranger: whatever it answers (nothing, an endless body, a
megabyte of headers, binary garbage, an unreadable ``Retry-After``, a dropped
connection) becomes an :class:`AttemptResult`, never an exception, and every
text taken from the answer is cut to the size of its column in the delivery
log and cleared of characters the databases refuse (NUL, lone surrogates).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import aiohttp

from scheduler import __version__
from scheduler.config import Settings
from scheduler.logs import redact_url
from scheduler.webhooks.retries import parse_retry_after
from scheduler.webhooks.signing import sign_headers
from scheduler.webhooks.targets import GuardedResolver, guarded_socket

USER_AGENT = f"broadcast-scheduler/{__version__} (+webhooks)"

# What a receiver's answer may carry before it is refused as unreadable
# (aiohttp's own defaults, written down): a longer status or header line, a
# bigger header or more headers raise in the parser and fail the attempt.
RESPONSE_MAX_LINE = 8190
RESPONSE_MAX_FIELD = 8190
RESPONSE_MAX_HEADERS = 128
# The ``error`` column of the delivery log holds 500 characters; room is left
# for what the outbox adds.
ERROR_CHARS = 300
EXCERPT_CHARS = 1024  # the ``response_excerpt`` column
# C0/C1 controls, DEL, bidi overrides and lone surrogates: NUL and surrogates
# make PostgreSQL (and the UTF-8 encoder) refuse the row; the others make a log
# read differently from what was received.
_UNPRINTABLE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNPRINTABLE_TEXT = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


class Outcome(StrEnum):
    SUCCESS = "success"  # 2xx
    RETRY = "retry"  # anything else worth trying again
    GONE = "gone"  # 410: the receiver asks us to stop for good


@dataclass(frozen=True)
class AttemptResult:
    outcome: Outcome
    status: int | None
    latency_ms: float
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None


def judge_status(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.SUCCESS
    if status == 410:
        return Outcome.GONE
    return Outcome.RETRY


def printable(text: str, limit: int, *, one_line: bool = True) -> str:
    """``text`` from a receiver as the delivery log may hold it: unprintable
    characters replaced by U+FFFD, at most ``limit`` characters."""
    pattern = _UNPRINTABLE_LINE if one_line else _UNPRINTABLE_TEXT
    cleaned = pattern.sub("\ufffd", text[: limit + 1])
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def read_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` asks for, or ``None`` when it cannot be read: an
    odd header from a receiver gives no hint, and the retry schedule applies."""
    try:
        return parse_retry_after(value, now)
    except (ValueError, OverflowError, TypeError):
        return None


def describe_error(err: BaseException, url: str) -> str:
    """A failed request in words for the delivery log, without the URL's query,
    credentials or secret path (aiohttp names the URL in some errors)."""
    if isinstance(err, aiohttp.ClientResponseError):
        # the status line or headers could not be parsed; ``status`` is aiohttp's own
        text = f"unreadable response: {err.message}"
    elif isinstance(err, aiohttp.InvalidURL):
        text = f"invalid URL: {err.description or 'aiohttp cannot call it'}"
    elif isinstance(err, aiohttp.ClientConnectorError):
        text = f"connection failed: {err}"
    elif isinstance(err, aiohttp.ClientError):
        text = f"{type(err).__name__}: {err}"
    else:
        text = f"connection failed: {err}"
    text = text.replace(url, redact_url(url)) if url else text
    return printable(text, ERROR_CHARS)


class WebhookClient:
    """Posts signed webhook bodies; one instance (one session) per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        resolver = None if self.settings.allow_private_webhook_targets else GuardedResolver()
        connector = aiohttp.TCPConnector(
            limit=self.settings.webhook_concurrency,
            limit_per_host=self.settings.webhook_concurrency,
            resolver=resolver,
            ttl_dns_cache=60,
            # every address dialled, IP literals included (they skip the resolver)
            socket_factory=None if self.settings.allow_private_webhook_targets else guarded_socket,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_seconds),
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            # we ask for identity; a receiver that compresses anyway is logged as
            # sent: inflating what a stranger sends buys nothing for an excerpt
            auto_decompress=False,
            max_line_size=RESPONSE_MAX_LINE,
            max_field_size=RESPONSE_MAX_FIELD,
            max_headers=RESPONSE_MAX_HEADERS,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        *,
        url: str,
        msg_id: str,
        body: str,
        secrets: Sequence[str],
        now: datetime,
        signed: dict[str, str] | None = None,
    ) -> AttemptResult:
        """One attempt: sign with ``now`` as ``webhook-timestamp`` (unless ``signed``
        carries headers made earlier), POST, judge the answer."""
        assert self._session is not None, "WebhookClient.start() was not called"
        if signed is not None:
            headers = dict(signed)
        else:
            headers = sign_headers(msg_id=msg_id, timestamp=now, body=body, secrets_=secrets)
        headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            async with self._session.post(
                url, data=body.encode(), headers=headers, allow_redirects=False
            ) as resp:
                return await self._judge(resp, started, now)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            error = f"no answer within {self.settings.webhook_timeout_seconds:g} s"
        except (aiohttp.ClientError, OSError) as err:
            error = describe_error(err, url)
        except UnicodeError as err:
            # a host name the IDNA codec refuses (saved before URLs were checked)
            error = printable(f"the webhook host cannot be encoded: {err}", ERROR_CHARS)
        latency = (time.perf_counter() - started) * 1000
        return AttemptResult(Outcome.RETRY, None, latency, error)

    async def _judge(
        self, resp: aiohttp.ClientResponse, started: float, now: datetime
    ) -> AttemptResult:
        """The result of an answer whose status line and headers have arrived."""
        outcome = judge_status(resp.status)
        error = None
        if outcome is not Outcome.SUCCESS:
            error = f"HTTP {resp.status} {resp.reason or ''}".strip()
            if 300 <= resp.status < 400:
                error += " (redirects are not followed)"
        # The status is the answer; the body is only an excerpt for the log, read
        # up to the cap and within what is left of the timeout. One that breaks
        # off or never ends does not change the outcome.
        excerpt = None
        try:
            raw = await resp.content.read(self.settings.webhook_response_excerpt_bytes)
            excerpt = printable(raw.decode("utf-8", "replace"), EXCERPT_CHARS, one_line=False)
        except (aiohttp.ClientError, OSError) as err:  # TimeoutError is an OSError
            if error is not None:
                error += f"; the body could not be read ({type(err).__name__})"
        latency = (time.perf_counter() - started) * 1000
        retry_after = (
            read_retry_after(resp.headers.get("Retry-After"), now)
            if resp.status in (429, 503)
            else None
        )
        return AttemptResult(
            outcome,
            resp.status,
            latency,
            printable(error, ERROR_CHARS) if error is not None else None,
            excerpt or None,
            retry_after,
        )
