"""Sending one webhook attempt over HTTP, and judging the answer.

One shared aiohttp ``ClientSession`` per process (a ``cleanup_ctx``), with a
connection limit, a total timeout, no redirects followed, response bodies read
only up to a cap, and (unless private targets are allowed) a resolver that
refuses internal addresses at connect time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import aiohttp

from scheduler import __version__
from scheduler.config import Settings
from scheduler.webhooks.retries import parse_retry_after
from scheduler.webhooks.signing import sign_headers
from scheduler.webhooks.targets import GuardedResolver

USER_AGENT = f"broadcast-scheduler/{__version__} (+webhooks)"


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
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_seconds),
            headers={"User-Agent": USER_AGENT},
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
                raw = await resp.content.read(self.settings.webhook_response_excerpt_bytes)
                latency = (time.perf_counter() - started) * 1000
                outcome = judge_status(resp.status)
                error = None
                if outcome is not Outcome.SUCCESS:
                    error = f"HTTP {resp.status} {resp.reason or ''}".strip()
                    if 300 <= resp.status < 400:
                        error += " (redirects are not followed)"
                retry_after = (
                    parse_retry_after(resp.headers.get("Retry-After"), now)
                    if resp.status in (429, 503)
                    else None
                )
                return AttemptResult(
                    outcome,
                    resp.status,
                    latency,
                    error,
                    raw.decode("utf-8", "replace") or None,
                    retry_after,
                )
        except TimeoutError:
            error = f"no answer within {self.settings.webhook_timeout_seconds:g} s"
        except aiohttp.ClientError as err:
            error = f"{type(err).__name__}: {err}"[:300]
        except OSError as err:
            error = f"connection failed: {err}"[:300]
        except asyncio.CancelledError:
            raise
        latency = (time.perf_counter() - started) * 1000
        return AttemptResult(Outcome.RETRY, None, latency, error)
