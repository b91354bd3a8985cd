"""The SSRF guard's rules, pure: which addresses are forbidden and which URLs are well formed.

Transition mechanisms (IPv4-mapped, -compatible and -translated, 6to4, Teredo,
NAT64) carry an IPv4 address inside an IPv6 one; each form is tried with a
loopback, a private, a link-local/metadata and a public IPv4 address.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

import pytest

from scheduler.exceptions import InvalidInput
from scheduler.webhooks.targets import (
    check_url_shape,
    embedded_ipv4,
    forbidden_reason,
    guarded_socket,
)

PUBLIC_V4 = "8.8.8.8"
FORBIDDEN_V4 = {
    "127.0.0.1": "loopback",
    "10.1.2.3": "private",
    "192.168.0.1": "private",
    "172.16.5.4": "private",
    "169.254.169.254": "metadata",
    "100.64.0.1": "carrier-grade NAT",
    "0.0.0.0": "unspecified",
}


def v4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def six_to_four(ipv4: str) -> str:
    return str(ipaddress.IPv6Address((0x2002 << 112) | (v4(ipv4) << 80) | 1))


def teredo(server: str, client: str) -> str:
    # 2001:0000:<server>:<flags>:<port xor ffff>:<client xor ffffffff>
    value = (0x20010000 << 96) | (v4(server) << 64) | (0x8000 << 48) | (0x63BF << 32)
    return str(ipaddress.IPv6Address(value | (v4(client) ^ 0xFFFFFFFF)))


def nat64(ipv4: str) -> str:
    return str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | v4(ipv4)))


def translated(ipv4: str) -> str:
    return str(ipaddress.IPv6Address((0xFFFF << 48) | v4(ipv4)))


def compatible(ipv4: str) -> str:
    return str(ipaddress.IPv6Address(v4(ipv4)))


FORMS = {
    "6to4": six_to_four,
    "Teredo server": lambda a: teredo(a, PUBLIC_V4),
    "Teredo client": lambda a: teredo(PUBLIC_V4, a),
    "NAT64": nat64,
    "IPv4-translated": translated,
    "IPv4-compatible": compatible,
    "IPv4-mapped": lambda a: f"::ffff:{a}",
}


@pytest.mark.parametrize(
    ("form", "ipv4"),
    [
        (form, ipv4)
        for form in sorted(FORMS)
        for ipv4 in sorted(FORBIDDEN_V4)
        if FORMS[form](ipv4) != "::"  # ::0.0.0.0 is the unspecified address itself
    ],
)
def test_transition_forms_embedding_a_forbidden_ipv4_are_refused(form: str, ipv4: str) -> None:
    address = FORMS[form](ipv4)
    assert (form, ipaddress.IPv4Address(ipv4)) in embedded_ipv4(ipaddress.IPv6Address(address))
    reason = forbidden_reason(address)
    assert reason is not None, address
    assert f"{form} address that reaches {ipv4}" in reason
    assert FORBIDDEN_V4[ipv4] in reason


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::",  # the example: 6to4 of 127.0.0.1
        "2002:7f00:0001:0000:0000:0000:0000:0001",
        "2002:a00:1::1",
        "2002:c0a8:101::",
        "2002:a9fe:a9fe::",
        "64:ff9b::127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "::127.0.0.1",
        "::ffff:0:10.0.0.1",
        "::ffff:169.254.169.254",
        "2001:0:7f00:1:8000:63bf:3fff:fdd2",  # Teredo via a loopback server
        "2001:0:808:808:0:0:80ff:fffe",  # Teredo to loopback client
    ],
)
def test_written_forms_are_refused(address: str) -> None:
    assert forbidden_reason(address) is not None


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b:1::808:808",  # local-use NAT64 reaches a private network, whatever it embeds
        "64:ff9b:1:ffff::1",
        "::1",
        "::",
        "fe80::1%eth0",
        "fc00::1",
        "fec0::1",  # site-local (deprecated): not is_private in Python 3.11
        "fd00:ec2::254",
        "ff02::1",
        "100::1",
        "2001:db8::1",
        "::808:808",  # IPv4-compatible addresses are deprecated: reserved even when public
        "240.0.0.1",
        "255.255.255.255",
        "224.0.0.1",
        *FORBIDDEN_V4,
    ],
)
def test_internal_addresses_are_refused(address: str) -> None:
    assert forbidden_reason(address) is not None


@pytest.mark.parametrize(
    "address",
    [
        PUBLIC_V4,
        "1.1.1.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
        "::ffff:8.8.8.8",
        six_to_four(PUBLIC_V4),  # 6to4 to a public address is a public address
        nat64(PUBLIC_V4),  # what DNS64 answers for a public name on an IPv6-only host
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(address) is None


def test_reasons_name_the_mechanism_and_the_address() -> None:
    assert forbidden_reason("2002:7f00:1::") == (
        "a 6to4 address that reaches 127.0.0.1, a loopback address"
    )
    assert forbidden_reason("::ffff:0:7f00:1") == (
        "an IPv4-translated address that reaches 127.0.0.1, a loopback address"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.org/hook", ("example.org", 80)),
        ("https://example.org/hook?x=1#f", ("example.org", 443)),
        ("https://EXAMPLE.org:8443/", ("example.org", 8443)),
        ("http://exämple.org/", ("xn--exmple-cua.org", 80)),  # IDNA, as aiohttp sends it
        ("http://hooks.example./x", ("hooks.example.", 80)),
        ("http://a_b.example/", ("a_b.example", 80)),
        ("http://192.0.2.10:8080/x", ("192.0.2.10", 8080)),
        ("http://[2606:4700::1111]/x", ("2606:4700::1111", 80)),
        ("http://[::ffff:127.0.0.1]/", ("::ffff:7f00:1", 80)),
        (f"http://{'a' * 63}.example/", (f"{'a' * 63}.example", 80)),
    ],
)
def test_well_formed_urls(url: str, expected: tuple[str, int]) -> None:
    assert check_url_shape(url) == expected


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://[::1/", "malformed"),
        ("http://[zz]/", "malformed"),
        ("http://[v1.x]/", "brackets"),
        ("http://[::1]:99999/", "malformed"),
        ("http://example.org:0/", "port"),
        ("http://example.org:abc/", "malformed"),
        ("http://:80/", "malformed"),
        ("http:///x", "no host"),
        ("http:x", "no host"),
        ("//example.org/x", "http://"),
        ("ftp://example.org/", "http://"),
        ("javascript:alert(1)", "http://"),
        ("http://user:pw@example.org/", "credentials"),
        ("http://token@example.org/", "credentials"),
        ("http://1.2.3.4\\@127.0.0.1/", "malformed"),
        ("http://127.1/", "dotted-quad"),
        ("http://2130706433/", "dotted-quad"),
        ("http://0x7f.0.0.1/", "dotted-quad"),
        ("http://0177.0.0.1/", "dotted-quad"),
        ("http://example.123/", "dotted-quad"),
        ("http://a..b/", "host name"),
        ("http://⒈.com/", "host name"),
        ("http://-lead.example/", "host name"),
        ("http://h%00st.example/", "host name"),
        ("http://ex ample.org/", "host name"),
        (f"http://{'a' * 64}.example/", "host name"),
        (f"http://{'a.' * 127}example/", "host name"),
        ("http://[fe80::1%25eth0]/", "zone"),
        ("", "http://"),
    ],
)
def test_malformed_urls_are_refused_on_the_url_field(url: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_url_shape(url)
    assert caught.value.field == "url"
    assert words in str(caught.value)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "2002:7f00:1::"])
def test_guarded_socket_refuses_forbidden_addresses(address: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr = (address, 80, 0, 0) if ":" in address else (address, 80)
    with pytest.raises(OSError) as caught:
        guarded_socket((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
    assert caught.value.errno == errno.EACCES
    assert "forbidden" in str(caught.value)


def test_guarded_socket_opens_a_socket_for_a_public_address() -> None:
    info = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (PUBLIC_V4, 443))
    sock = guarded_socket(info)
    try:
        assert sock.family == socket.AF_INET
    finally:
        sock.close()
