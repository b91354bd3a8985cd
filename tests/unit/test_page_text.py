"""The pure pieces of the public pages: safe links, wall-time texts, JSON inside <script>."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from scheduler.timezones import to_local
from scheduler.web.structured import script_json
from scheduler.web.text import linkify, safe_url
from scheduler.web.times import city, time_range


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("plain <b>text</b> & more", "plain &lt;b&gt;text&lt;/b&gt; &amp; more"),
        (
            "See https://ep.example/a.",
            'See <a href="https://ep.example/a" rel="nofollow noopener noreferrer">'
            "https://ep.example/a</a>.",
        ),
        (
            "(at https://ep.example/x_(y)) then",
            '(at <a href="https://ep.example/x_(y)" rel="nofollow noopener noreferrer">'
            "https://ep.example/x_(y)</a>) then",
        ),
        (
            'https://ep.example/?q="><script>',
            '<a href="https://ep.example/?q=" rel="nofollow noopener noreferrer">'
            "https://ep.example/?q=</a>&#34;&gt;&lt;script&gt;",
        ),
        ("javascript:alert(1) data:text/html,x", "javascript:alert(1) data:text/html,x"),
        ("line one\nline two", "line one\nline two"),
        ("https:// nothing", "https:// nothing"),
    ],
)
def test_descriptions_link_only_http_urls_and_escape_everything_else(text: str, html: str) -> None:
    assert str(linkify(text)) == html


def test_only_http_and_https_stream_urls_are_linked() -> None:
    assert safe_url("https://ep.example/live") == "https://ep.example/live"
    assert safe_url("HTTP://EP.EXAMPLE") == "HTTP://EP.EXAMPLE"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//ep.example", "https://", None, ""):
        assert safe_url(bad) is None


def at(zone: str, *utc: int) -> datetime:
    return to_local(zone, datetime(*utc, tzinfo=UTC))  # type: ignore[arg-type]


def test_times_name_their_zone_a_later_day_and_a_clock_change() -> None:
    zone = "Europe/Brussels"
    assert time_range(at(zone, 2018, 5, 22, 16, 15), at(zone, 2018, 5, 22, 17, 30), zone) == (
        "18:15–19:30 CEST, Brussels"
    )
    assert time_range(at(zone, 2018, 1, 22, 22, 0), at(zone, 2018, 1, 23, 1, 0), zone) == (
        "23:00–02:00 +1 CET, Brussels"
    )
    # 2019-10-27: 03:00 CEST becomes 02:00 CET
    assert time_range(at(zone, 2019, 10, 26, 23, 30), at(zone, 2019, 10, 27, 2, 0), zone) == (
        "01:30 CEST–03:00 CET, Brussels"
    )
    assert city("America/New_York") == "New York" and city("UTC") == "UTC"


def test_json_in_a_script_cannot_close_it() -> None:
    data = {"name": "</script><script>alert(1)</script><!-- & \u2028"}
    text = str(script_json(data))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == data
