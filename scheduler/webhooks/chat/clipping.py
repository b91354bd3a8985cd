"""Fitting user text into a chat platform's limits without breaking it. Pure.

Every platform escapes text its own way (Slack's ``&lt;``, Discord's ``\\*``)
and caps each field at a number of characters. Text is split into clusters
(a character with the marks that belong to it: an emoji with its skin tone,
variation selector or ZWJ partners, a letter with its combining accents, a
flag's two regional indicators), each cluster is escaped into one *unit*, and
a text that is too long is cut only between units: never inside an escape, a
surrogate pair or an emoji. A cut text ends with "…", at a space when one is
near.

Lengths are counted in UTF-16 code units, what JavaScript counts: never fewer
than the code points Python counts (an emoji counts two), so a text within a
limit here is within it whichever way the platform counts.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator, Sequence

ELLIPSIS = "…"
#: a cut backs off to a space at most this many units before the limit
WORD_BACKOFF = 24

ZWJ = "\u200d"
#: code points a cluster may hold: the longest emoji sequences hold 10; only
#: stacked marks ("Zalgo" text) or endless joiners hold more, and are cut there,
#: so that one such cluster cannot swallow a whole field
MAX_CLUSTER = 32


def length(text: str) -> int:
    """``text``'s length in UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _joins_previous(ch: str) -> bool:
    """Whether ``ch`` belongs to the cluster before it."""
    code = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or ch == ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors (emoji or text style)
        or 0x1F3FB <= code <= 0x1F3FF  # skin tone modifiers
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
        or code == 0x20E3  # combining enclosing keycap
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
    )


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def clusters(text: str) -> Iterator[str]:
    """``text`` in the pieces a cut must not split."""
    current = ""
    for ch in text:
        if (
            current
            and len(current) < MAX_CLUSTER
            and (
                _joins_previous(ch)
                or (current.endswith(ZWJ) and ord(ch) > 0x7F)  # ZWJ joins symbols, not ASCII
                or (_regional(ch) and len(current) == 1 and _regional(current))
            )
        ):
            current += ch
            continue
        if current:
            yield current
        current = ch
    if current:
        yield current


def fit(units: Sequence[str], limit: int) -> str:
    """The units joined, cut to at most ``limit`` UTF-16 units with "…" when
    they do not all fit."""
    sizes = [length(unit) for unit in units]
    if sum(sizes) <= limit:
        return "".join(units)
    budget = limit - length(ELLIPSIS)
    kept = 0
    used = 0
    for size in sizes:
        if used + size > budget:
            break
        used += size
        kept += 1
    cut = kept
    for back in range(kept, max(kept - WORD_BACKOFF, 0), -1):
        if units[back - 1].isspace():
            cut = back
            break
    while cut and units[cut - 1].isspace():
        cut -= 1
    return "".join(units[:cut]) + ELLIPSIS


def clip(text: str, limit: int, escape: Callable[[str], Sequence[str]]) -> str:
    """``text`` escaped by ``escape`` (text -> one unit per cluster) and fitted
    into ``limit``."""
    return fit(escape(text), limit)
