"""Backslash escapes for the Markdown that Discord and Teams render. Pure.

Both read Markdown in the text a webhook posts; both honour a backslash
before an ASCII punctuation character as "this character, literally". So each
character that could start markup in user text (emphasis, code, links,
headings, quotes, lists, HTML-like tags and entities) gets a backslash, and the list
markers that only mean something at the start of a line (``-``, ``+``,
``1.``) get one there. With ``mentions``, ``@`` is followed by a zero-width
space, so ``@everyone``, ``@here`` and ``<@&123>`` read as they were written
and are not parsed as mentions (Discord's ``allowed_mentions`` also stops them
pinging anyone).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from scheduler.webhooks.chat.clipping import Escaper, clusters

#: what starts markup anywhere in a line
INLINE = frozenset("\\*_~`|<>[]#&")  # & would start an HTML entity (&lt;)
#: what starts markup only at the beginning of a line
LINE_START = frozenset("-+=")
ZERO_WIDTH_SPACE = "\u200b"
DIGITS = frozenset("0123456789")

# the same rules as :func:`units`, for a whole text at once
_INLINE_RE = re.compile(r"[\\*_~`|<>\[\]#&]")
_LINE_START_RE = re.compile(r"^([^\S\n]*)([-+=])", re.MULTILINE)
_NUMBERED_RE = re.compile(r"^([^\S\n]*[0-9](?:[^\S\n]|[0-9])*)([.)])", re.MULTILINE)


def units(text: str, *, mentions: bool = False) -> Iterator[str]:
    """``text`` as escaped units, one per cluster (see ``clipping``)."""
    line_start = True  # only spaces so far on this line
    digits_only = True  # only spaces and digits so far on this line
    for cluster in clusters(text):
        unit = ""
        for ch in cluster:  # every character: a cluster may carry punctuation after a mark
            if ch in INLINE or (line_start and ch in LINE_START):
                unit += "\\" + ch
            elif digits_only and not line_start and ch in ".)":
                unit += "\\" + ch  # "1." or "1)" would start a numbered list
            elif mentions and ch == "@":
                unit += ch + ZERO_WIDTH_SPACE
            else:
                unit += ch
            if ch == "\n":
                line_start = digits_only = True
            elif not ch.isspace():
                line_start = False
                digits_only = digits_only and ch in DIGITS
        yield unit


def whole(text: str, *, mentions: bool = False) -> str:
    """``"".join(units(text))``, with regular expressions."""
    text = _INLINE_RE.sub(r"\\\g<0>", text)
    text = _LINE_START_RE.sub(r"\1\\\2", text)
    text = _NUMBERED_RE.sub(r"\1\\\2", text)
    return text.replace("@", "@" + ZERO_WIDTH_SPACE) if mentions else text


def _mention_units(text: str) -> Iterator[str]:
    return units(text, mentions=True)


def _mention_whole(text: str) -> str:
    return whole(text, mentions=True)


#: Markdown as Discord reads it, mentions neutralised (``@`` + a zero-width space)
MARKDOWN_NO_MENTIONS = Escaper(_mention_units, _mention_whole, widest=2)
