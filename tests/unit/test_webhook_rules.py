"""Retry policy, signatures and target checks: pure or local rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from scheduler.webhooks.payloads import delivery_id
from scheduler.webhooks.retries import next_delay, parse_retry_after
from scheduler.webhooks.signing import generate_secret, sign_headers
from scheduler.webhooks.targets import GuardedResolver, forbidden_reason

SCHEDULE = (5, 300, 1800, 7200, 18000, 36000)


def test_retry_schedule_with_jitter_then_dead() -> None:
    rng = random.Random(1)
    for attempt, base in enumerate(SCHEDULE, start=1):
        delay = next_delay(attempt, SCHEDULE, rng=rng)
        assert delay is not None and base <= delay <= base * 1.1
    assert next_delay(len(SCHEDULE) + 1, SCHEDULE) is None


def test_retry_after_wins_when_longer() -> None:
    assert next_delay(1, (1, 1), retry_after=30) == 30
    assert next_delay(1, (100,), retry_after=1) >= 100  # type: ignore[operator]
    assert next_delay(1, (1,), retry_after=10**9) == 24 * 3600


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Sat, 28 Nov 2026 12:01:00 GMT", now) == 60
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  5  ", 5.0),  # surrounding blanks are not part of the value
        ("0", 0.0),
        ("Sat, 28 Nov 2026 11:00:00 GMT", 0.0),  # a date in the past: now
        ("Sun, 29 Nov 2026 12:00:00 GMT", 86400.0),
        ("Sat, 28 Nov 2026 12:00:30 +0000", 30.0),
    ],
)
def test_parse_retry_after_reads_both_forms(value: str, expected: float) -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected


@pytest.mark.parametrize(
    "value",
    [
        "\u00b2",  # superscript two: str.isdigit() says yes, float() raises
        "\u0663",  # Arabic-Indic three
        "\uff15",  # fullwidth five
        "-1",
        "+5",
        "1e9",
        "1.5",
        "0x10",
        "9" * 30,  # longer than any number we read
        "",
        "   ",
        "5 5",
        "Sat, 28 Nov 2026 12:01:00",  # a date without a zone
        "Sat, 28 Nov 99999 12:01:00 GMT",
        "Mon, 32 Foo 2026 25:61:61 GMT",
        "\x00",
    ],
)
def test_parse_retry_after_ignores_what_it_cannot_read(value: str) -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_retry_after(value, now) is None


def test_signatures_verify_with_standardwebhooks() -> None:
    old, new = generate_secret(), generate_secret()
    body = '{"type":"event.reminder"}'
    headers = sign_headers(
        msg_id="msg_1", timestamp=datetime.now(UTC), body=body, secrets_=[new, old]
    )
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "event.reminder"}
    with pytest.raises(Exception, match="signature"):
        Webhook(generate_secret()).verify(body, headers)


def test_delivery_ids_are_stable_and_distinct() -> None:
    assert delivery_id("e:started", 0, "s1") == delivery_id("e:started", 0, "s1")
    assert delivery_id("e:started", 0, "s1") != delivery_id("e:started", 1, "s1")
    assert delivery_id("e:started", 0, "s1") != delivery_id("e:started", 0, "s2")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "metadata"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.0.1", "private"),
        ("100.64.0.1", "shared"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::ffff:10.0.0.1", "private"),
        ("fd00:ec2::254", "metadata"),
    ],
)
def test_forbidden_addresses(address: str, reason: str) -> None:
    found = forbidden_reason(address)
    assert found is not None and reason in found


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses(address: str) -> None:
    assert forbidden_reason(address) is None


async def test_connect_time_resolver_refuses_loopback_names() -> None:
    # a name that resolves to loopback at connect time (DNS rebinding) is refused there too
    resolver = GuardedResolver()
    try:
        with pytest.raises(OSError, match="forbidden"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()
