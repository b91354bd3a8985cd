"""Microsoft Teams messages: an Adaptive Card 1.5 for a workflow webhook. Pure.

Teams channels take incoming messages through a Power Automate workflow
("Post to a channel when a webhook request is received"), whose trigger reads
``{"type": "message", "attachments": [...]}`` with one Adaptive Card
attachment. The card has the title as a heading, what happened, a fact set
with the time in the event's zone and in UTC, the description, and an
``Action.OpenUrl`` to the stream. TextBlocks render Markdown, so user text
goes through the Markdown escaper, and its line breaks are doubled (Markdown
joins lines separated by a single one).

Limits: the card is valid against the Adaptive Card 1.5 schema; Teams takes
messages up to 28 KB, so the description is cut to 3,000 characters (12 KB
of UTF-8 at most, with escapes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scheduler.models import EventType
from scheduler.webhooks.chat import markdown
from scheduler.webhooks.chat.clipping import Escaper, clip
from scheduler.webhooks.chat.links import link
from scheduler.webhooks.chat.wording import STREAM_LABEL, Notice

CARD_VERSION = "1.5"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 3_000
URL_LIMIT = 2_048

#: the colour of the line saying what happened
EMPHASIS = {
    EventType.STARTED.value: "Good",
    EventType.UPDATED.value: "Warning",
    EventType.CANCELLED.value: "Attention",
}


def _units(text: str) -> Iterator[str]:
    for unit in markdown.units(text):
        yield unit.replace("\n", "\n\n")


def _whole(text: str) -> str:
    return markdown.whole(text).replace("\n", "\n\n")


#: Markdown as TextBlocks read it, where a line break needs a blank line
#: (a single ``\n`` joins the lines): each line break is doubled
escape = Escaper(_units, _whole, widest=2)


def _sentence(headline: str) -> str:
    return headline[:1].upper() + headline[1:]


def card(notice: Notice) -> dict[str, Any]:
    """The Adaptive Card itself."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": clip(notice.title, TITLE_LIMIT, escape),
            "style": "heading",
            "size": "Medium",
            "weight": "Bolder",
            "wrap": True,
        },
        {
            "type": "TextBlock",
            "text": escape(_sentence(notice.headline)),
            "color": EMPHASIS.get(notice.kind, "Accent"),
            "weight": "Bolder",
            "wrap": True,
        },
    ]
    if notice.local and notice.utc:
        body.append(
            {
                "type": "FactSet",
                "facts": [
                    {"title": "Local time", "value": escape(notice.local)},
                    {"title": "UTC", "value": escape(notice.utc)},
                ],
            }
        )
    if notice.description:
        body.append(
            {
                "type": "TextBlock",
                "text": clip(notice.description, DESCRIPTION_LIMIT, escape),
                "wrap": True,
            }
        )
    content: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    url = link(notice.stream_url, URL_LIMIT)
    if url:
        content["actions"] = [{"type": "Action.OpenUrl", "title": STREAM_LABEL, "url": url}]
    return content


def message(notice: Notice) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card(notice)}],
    }
