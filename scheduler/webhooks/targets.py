"""Which webhook targets we may call: well-formed http(s) URLs, and no internal addresses.

A webhook URL is chosen by an API user but called by our server, so without a
check it could reach the loopback interface, the private network or a cloud
metadata service (SSRF). Addresses are checked when a subscription is saved and
again for every connection the delivery client opens, by :func:`guarded_socket`
(aiohttp's ``socket_factory``): it sees the address actually dialled, whether it
came from DNS (whose answer can change in between: DNS rebinding), from the DNS
cache, or from an IP literal in the URL (aiohttp never asks the resolver about
those). An IPv6 address that carries an IPv4 address through a transition
mechanism (IPv4-mapped or -compatible, 6to4, Teredo, NAT64) is judged by the
IPv4 address it reaches. ``allow_private_webhook_targets`` turns the address
check off for tests and labs; the URL shape is checked always.

URLs are parsed with yarl, the parser aiohttp itself uses, so that the host we
check is the host the client connects to.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from typing import Any

import yarl
from aiohttp import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from scheduler.exceptions import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints not already covered by the link-local check.
METADATA = {
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
}
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
# RFC 6052: the well-known NAT64 prefix reaches the IPv4 address in its last 32
# bits (DNS64 hands these out for public names on IPv6-only hosts, so a public
# one is allowed); the local-use prefix (RFC 8215) serves one operator's own
# network, with the IPv4 address at a position only that operator knows.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # ::a.b.c.d (deprecated, RFC 4291)
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # ::ffff:0:a.b.c.d (SIIT)
_LOW32 = 0xFFFFFFFF

# A DNS name as resolvers accept it (yarl has already IDNA-encoded it to ASCII);
# underscores occur in real names, so they are allowed.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)
# WHATWG URL rule: a host whose last label is a number is an IPv4 address
# (``127.1``, ``2130706433``, ``0x7f.1``); only the dotted-quad form is accepted.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*", re.IGNORECASE)
_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")
MAX_HOST_LENGTH = 253


class ForbiddenTarget(InvalidInput):
    """Raised when a webhook URL points at an address we refuse to call."""

    code = "forbidden-webhook-target"


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses ``ip`` reaches through a transition mechanism, each
    with the mechanism's name."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped is not None:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        server, client = ip.teredo
        found += [("Teredo server", server), ("Teredo client", client)]
    low = ipaddress.IPv4Address(int(ip) & _LOW32)
    if ip in NAT64_WELL_KNOWN:
        found.append(("NAT64", low))
    if ip in IPV4_TRANSLATED:
        found.append(("IPv4-translated", low))
    if ip in IPV4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are themselves
        found.append(("IPv4-compatible", low))
    return found


def _own_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` itself (not what it embeds) may not be called."""
    if ip in METADATA:
        return "a cloud metadata address"
    checks = [
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "an unspecified address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
        # fec0::/10, deprecated but still routed inside some networks (not is_private)
        ("is_site_local", "a site-local address"),
    ]
    for attribute, reason in checks:
        if getattr(ip, attribute, False):
            return reason
    if isinstance(ip, ipaddress.IPv4Address) and ip in SHARED_ADDRESS_SPACE:
        return "a shared (carrier-grade NAT) address"
    return None


def forbidden_reason(address: str) -> str | None:
    """Why the IP address ``address`` may not be called, or ``None`` when it is public."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _own_reason(ip)
    if ip in NAT64_LOCAL_USE:
        return "a local-use NAT64 address (64:ff9b:1::/48), which reaches a private network"
    for mechanism, ipv4 in embedded_ipv4(ip):
        reason = _own_reason(ipv4)
        if reason:
            article = "an" if mechanism.startswith("IPv4") else "a"
            return f"{article} {mechanism} address that reaches {ipv4}, {reason}"
    if ip.ipv4_mapped is not None or ip in NAT64_WELL_KNOWN:
        return None  # these reach exactly their (public) IPv4 address
    return _own_reason(ip)


def _refuse(reason: str) -> InvalidInput:
    return InvalidInput(reason, field="url")


def _check_host(url: str, host: str) -> None:
    """Refuse a host that is neither a valid IP literal nor a valid DNS name."""
    authority = _AUTHORITY.match(url)
    if ":" in host or (authority is not None and "[" in authority.group(1)):
        if "%" in host:
            raise _refuse("zone ids (%) are not allowed in webhook URLs")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _refuse("only an IPv6 address may stand in brackets in a URL") from None
        return
    name = host[:-1] if host.endswith(".") else host
    shown = name if len(name) <= 80 else f"{name[:80]}..."
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            canonical = str(ipaddress.IPv4Address(name)) == name
        except ValueError:
            canonical = False
        if not canonical:
            raise _refuse(
                f"{shown!r} is not an IPv4 address in dotted-quad form; write it as "
                "four decimal numbers without leading zeros (e.g. 192.0.2.10)"
            )
        return
    if len(name) > MAX_HOST_LENGTH or not all(_LABEL.fullmatch(label) for label in labels):
        raise _refuse(
            f"the webhook host {shown!r} is not a valid host name: use letters, digits and "
            f"hyphens, dot-separated labels of 1 to 63 characters, at most "
            f"{MAX_HOST_LENGTH} in all"
        )


def check_url_shape(url: str) -> tuple[str, int]:
    """Host and port of a well-formed http(s) URL; anything else is refused with an
    :class:`InvalidInput` for the field ``url``."""
    try:
        parsed = yarl.URL(url)
        scheme, host, port = parsed.scheme, parsed.raw_host, parsed.port
        has_credentials = parsed.raw_user is not None or parsed.raw_password is not None
    except (ValueError, TypeError) as err:  # UnicodeError (IDNA) is a ValueError
        raise _refuse(f"the webhook URL is malformed: {str(err)[:200]}") from None
    if scheme not in ("http", "https"):
        raise _refuse("webhook URLs must start with http:// or https://")
    if not host:
        raise _refuse("the webhook URL has no host")
    if has_credentials:
        raise _refuse("put credentials in the path or a header, not in the URL")
    if port is None or not 1 <= port <= 65535:
        raise _refuse("the webhook URL has an invalid port: use 1 to 65535")
    _check_host(url, host)
    return host, port


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse ``url`` unless it is http(s) and every address it resolves to is public."""
    host, port = check_url_shape(url)
    if allow_private:
        return
    resolver = DefaultResolver()
    try:
        answers = await resolver.resolve(host, port, family=socket.AF_UNSPEC)
    except (OSError, UnicodeError):
        raise _refuse(f"the webhook host {host!r} cannot be resolved") from None
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


def guarded_socket(addr_info: AddrInfoType) -> socket.socket:
    """aiohttp's ``socket_factory`` for the delivery client: a socket for a public
    address, ``OSError(EACCES)`` for a forbidden one.

    aiohttp calls it with every address it is about to connect to, so this is
    the one check no URL form can go around; errno and message survive aiohttp's
    wrapping into the delivery log.
    """
    family, type_, proto, _, address = addr_info
    reason = forbidden_reason(str(address[0]))
    if reason:
        raise OSError(errno.EACCES, f"connecting to {address[0]} is forbidden: it is {reason}")
    return socket.socket(family=family, type=type_, proto=proto)


class GuardedResolver(AbstractResolver):
    """A resolver for the delivery client that drops forbidden DNS answers, so that
    a name with public and private addresses is called on the public ones only
    (:func:`guarded_socket` is the final check)."""

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
