"""Text from the API made safe for HTML: escaped always, links only where safe.

Every title, description, channel and URL is escaped by the templates
(autoescape). A description is plain text: its line breaks are kept by CSS
(``white-space: pre-line``) and the ``http``/``https`` URLs in it become links,
built here from escaped pieces so that nothing in the text can open a tag or
an attribute. Any other scheme (``javascript:``, ``data:``) stays text.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

#: a URL in running text: up to whitespace or a character that cannot end one here
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
#: characters that end a sentence rather than the URL before them
_TRAILING = ".,;:!?"
#: at most this many characters of a URL are shown (the link keeps all of it)
MAX_SHOWN = 80


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an ``http`` or ``https`` URL a page may link to, else None."""
    if url and re.match(r"^https?://[^\s/?#]+[^\s]*$", url, re.IGNORECASE):
        return url
    return None


def _trim(url: str) -> str:
    """Drop punctuation that closes the sentence, and a ")" the URL did not open."""
    while url and (url[-1] in _TRAILING or (url[-1] == ")" and url.count("(") < url.count(")"))):
        url = url[:-1]
    return url


def link(url: str, label: str | None = None) -> Markup:
    shown = label if label is not None else url
    if len(shown) > MAX_SHOWN:
        shown = shown[: MAX_SHOWN - 1] + "…"
    return Markup('<a href="{}" rel="nofollow noopener noreferrer">{}</a>').format(url, shown)


def linkify(text: str | None) -> Markup:
    """Plain ``text`` as HTML: escaped, with its http(s) URLs as links."""
    if not text:
        return Markup("")
    out: list[str] = []
    at = 0
    for found in _URL.finditer(text):
        url = _trim(found.group(0))
        if not url.partition("://")[2]:
            continue  # "https://" and nothing more
        out.append(escape(text[at : found.start()]))
        out.append(link(url))
        at = found.start() + len(url)
    out.append(escape(text[at:]))
    return Markup("").join(out)
