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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

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
    if code < 0x300:  # nothing below the combining diacritics joins (most text)
        return False
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


def fit(units: Iterable[str], limit: int) -> str:
    """The units joined, cut to at most ``limit`` UTF-16 units with "…" when
    they do not all fit. Units are read only until the limit is passed: a long
    text costs what fits, not what it holds."""
    kept: list[str] = []
    used = 0
    for unit in units:
        kept.append(unit)
        used += length(unit)
        if used > limit:
            break
    else:
        return "".join(kept)
    budget = limit - length(ELLIPSIS)
    while kept and used > budget:
        used -= length(kept.pop())
    cut = len(kept)
    for back in range(cut, max(cut - WORD_BACKOFF, 0), -1):
        if kept[back - 1].isspace():
            cut = back
            break
    while cut and kept[cut - 1].isspace():
        cut -= 1
    return "".join(kept[:cut]) + ELLIPSIS


@dataclass(frozen=True)
class Escaper:
    """A platform's escaping, two ways that give the same text: unit by unit
    (to cut between units) and whole (faster, for text that fits anyway)."""

    units: Callable[[str], Iterable[str]]  # one escaped unit per cluster
    whole: Callable[[str], str]
    widest: int  # the most UTF-16 units one code point can become

    def __call__(self, text: str) -> str:
        return self.whole(text)


def clip(text: str, limit: int, escaper: Escaper) -> str:
    """``text`` escaped and fitted into ``limit`` UTF-16 units."""
    if len(text) * escaper.widest <= limit:
        return escaper.whole(text)  # fits whatever it holds: no need to count
    return fit(escaper.units(text), limit)
