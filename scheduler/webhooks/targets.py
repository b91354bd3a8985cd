"""Which webhook targets we may call: http(s) only, and no internal addresses.

A webhook URL is chosen by an API user but called by our server, so without a
check it could reach the loopback interface, the private network or a cloud
metadata service (SSRF). Addresses are checked when a subscription is saved and
again at connect time by :class:`GuardedResolver`, because a name's DNS answer
can change in between (DNS rebinding). ``allow_private_webhook_targets`` turns
the check off for tests and labs.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from scheduler.exceptions import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints not already covered by the link-local check.
METADATA = {
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
}


class ForbiddenTarget(InvalidInput):
    """Raised when a webhook URL points at an address we refuse to call."""

    code = "forbidden-webhook-target"


def forbidden_reason(address: str) -> str | None:
    """Why ``address`` may not be called, or ``None`` when it is a public address."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return "a cloud metadata address"
    checks = [
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "an unspecified address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    ]
    for attribute, reason in checks:
        if getattr(ip, attribute):
            return reason
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "a shared (carrier-grade NAT) address"
    return None


def check_url_shape(url: str) -> tuple[str, int]:
    """Host and port of an http(s) URL; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("webhook URLs must start with http:// or https://", field="url")
    if not parts.hostname:
        raise InvalidInput("the webhook URL has no host", field="url")
    if parts.username or parts.password:
        raise InvalidInput("put credentials in the path or a header, not in the URL", field="url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput("the webhook URL has an invalid port", field="url") from None
    return parts.hostname, port


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse ``url`` unless it is http(s) and every address it resolves to is public."""
    host, port = check_url_shape(url)
    if allow_private:
        return
    resolver = DefaultResolver()
    try:
        answers = await resolver.resolve(host, port, family=socket.AF_UNSPEC)
    except OSError:
        raise InvalidInput(f"the webhook host {host!r} cannot be resolved", field="url") from None
    finally:
        await resolver.close()
    for answer in answers:
        reason = forbidden_reason(answer["host"])
        if reason:
            raise ForbiddenTarget(
                f"the webhook host {host!r} resolves to {answer['host']}, {reason}; "
                "webhooks may only call public addresses",
                field="url",
            )


class GuardedResolver(AbstractResolver):
    """A resolver for the delivery client that drops forbidden addresses at connect time."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        allowed = [a for a in answers if forbidden_reason(a["host"]) is None]
        if not allowed:
            # errno and strerror survive aiohttp's wrapping into the delivery log
            raise OSError(errno.EACCES, f"{host} resolves only to forbidden addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"GuardedResolver({self._inner!r})"

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - aiohttp internals
        return getattr(self._inner, name)
