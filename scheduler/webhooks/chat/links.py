"""The stream link as chat platforms accept it. Pure.

The API takes any ``http(s)://`` URL without whitespace; chat platforms are
stricter (Discord refuses a message whose embed URL is not well formed, a
``>`` or ``|`` ends a Slack link). Characters a URL may not hold as they are
(RFC 3986) are percent-encoded, which means the same address; a link longer
than the platform takes is left out of the fields that need one, never cut.
"""

from __future__ import annotations

from urllib.parse import quote

# RFC 3986 reserved and unreserved characters, and % (already-encoded octets)
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~-._"


def link(url: str | None, limit: int) -> str | None:
    """``url`` with unsafe characters percent-encoded, or ``None`` when there is
    none or it is longer than ``limit`` characters."""
    if not url:
        return None
    safe = quote(url, safe=_URL_SAFE)
    return safe if len(safe) <= limit else None
