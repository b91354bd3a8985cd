"""What the service accepts from outside: the one set of rules for numbers, text and years.

Every number a stranger sends (a query string, a header, a cursor, a body
field), every text field and every date passes through here, so the rules are
the same on every endpoint and are written down once:

- **numbers** are ASCII digits only (``²`` and ``٣`` are digits to
  ``str.isdigit`` but not to us), at most :data:`MAX_DIGITS` of them, within the
  bounds the caller gives;
- **years** of local times and instants lie in :data:`MIN_YEAR` ..
  :data:`MAX_YEAR`, so that every derived instant (a reminder four weeks
  before, a feed window 30 days after, a VTIMEZONE for the year after) stays
  representable;
- **text** carries no control characters (C0, DEL, C1) and no bidirectional
  override or isolate controls (they make a title read differently from what
  it is), no unpaired surrogates and no NUL; multi-line fields keep line
  breaks and tabs, with CR LF and lone CR normalised to LF.

Pure: raises :class:`~scheduler.exceptions.InvalidInput` naming the field.
"""

from __future__ import annotations

import re
from datetime import datetime

from scheduler.exceptions import InvalidInput

#: Longest run of digits read as a number anywhere (a 64-bit integer has 19).
MAX_DIGITS = 18
#: Years of every local time and instant the API accepts (the tz database's
#: rules and calendar readers agree on these; see docs/operations.md).
MIN_YEAR = 1900
MAX_YEAR = 2199
#: Deepest JSON nesting accepted in a request body (ours is at most 3 deep).
MAX_JSON_DEPTH = 32

_DIGITS = re.compile(r"[0-9]+")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Bidirectional embedding/override (U+202A..U+202E) and isolate (U+2066..U+2069)
# controls: "Trojan source" text that renders differently from its bytes.
_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_FORBIDDEN_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_CONTROLS}\ud800-\udfff]")
_FORBIDDEN_MULTILINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_CONTROLS}\ud800-\udfff]")


def parse_count(
    raw: str, *, field: str, minimum: int = 0, maximum: int = 10**MAX_DIGITS - 1
) -> int:
    """Read a whole number from outside input, strictly.

    ``raw`` must be 1 to :data:`MAX_DIGITS` ASCII digits and lie within
    ``minimum`` .. ``maximum``; anything else is an :class:`InvalidInput` for
    ``field`` that says what to send instead.
    """
    if not isinstance(raw, str) or len(raw) > MAX_DIGITS or not _DIGITS.fullmatch(raw):
        shown = raw if isinstance(raw, str) and len(raw) <= 40 else f"{str(raw)[:40]}..."
        raise InvalidInput(
            f"{shown!r} is not a whole number; use the digits 0-9 "
            f"(a value from {minimum} to {maximum})",
            field=field,
        )
    value = int(raw)
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{value} is out of range: use {minimum} to {maximum}", field=field)
    return value


def check_year(value: datetime, *, field: str | None = None) -> datetime:
    """Refuse a date outside :data:`MIN_YEAR` .. :data:`MAX_YEAR`."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidInput(
            f"{value.year} is out of range: dates must lie in the years {MIN_YEAR} to {MAX_YEAR}",
            field=field,
        )
    return value


def clean_text(value: str, *, field: str, multiline: bool = False) -> str:
    """``value`` if it is acceptable text for ``field``; line endings normalised.

    Refuses control characters (all of them in one-line fields; all but line
    feed and tab in multi-line ones), bidirectional override and isolate
    controls, and unpaired surrogates, naming the first offending character.
    """
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    pattern = _FORBIDDEN_MULTILINE if multiline else _FORBIDDEN_ONE_LINE
    found = pattern.search(value)
    if found is not None:
        rule = (
            "line breaks and tabs are the only control characters allowed here"
            if multiline
            else "this one-line field takes no control or bidirectional-override characters"
        )
        raise InvalidInput(
            f"contains the character U+{ord(found.group()):04X} at position {found.start()}, "
            f"which is not allowed: {rule}",
            field=field,
        )
    return value


def without_forbidden(value: str, *, multiline: bool = False) -> str:
    """``value`` with what :func:`clean_text` refuses taken out, for text the
    service copies from a file someone else wrote (an import) rather than
    refusing the whole event for a stray control character."""
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN_ONE_LINE).sub("", value)


def looks_like_id(value: str) -> bool:
    """Whether ``value`` could be one of our ids (letters, digits, ``_``, ``-``; <= 64).

    Lookups of anything else answer "not found" without asking the database
    (PostgreSQL refuses a NUL byte in a query parameter with an error).
    """
    return bool(_ID.fullmatch(value))
