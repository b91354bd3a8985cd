"""Slack incoming-webhook messages: ``text`` and Block Kit ``blocks``. Pure.

The message has the notification text (``text``, shown in notifications and
where blocks are not), a ``section`` block with what happened, when (in the
event's zone and in UTC) and the description, and an ``actions`` block with a
button to the stream. User text goes through Slack's escaper: ``&``, ``<`` and
``>`` become entities, so ``<!channel>`` or ``<@U123>`` in a title is shown as
written instead of notifying anyone; the section is ``verbatim`` so nothing
else is turned into a link or mention either.

Limits (Slack's documentation): ``text`` at most 40,000 characters, a section's
text at most 3,000, a button's label 75 and its URL 3,000.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scheduler.webhooks.chat.clipping import Escaper, clip, clusters, length
from scheduler.webhooks.chat.links import link
from scheduler.webhooks.chat.wording import STREAM_LABEL, Notice

TEXT_LIMIT = 40_000
SECTION_LIMIT = 3_000
BUTTON_URL_LIMIT = 3_000
TITLE_LIMIT = 1_000  # of the section's 3,000: room is left for the times and the description
MIN_DESCRIPTION = 20  # a description that would have less room than this is left out

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _units(text: str) -> Iterator[str]:
    """``text`` escaped for mrkdwn, one unit per cluster."""
    for cluster in clusters(text):
        yield cluster.translate(_ENTITIES)


def _whole(text: str) -> str:
    return text.translate(_ENTITIES)


#: mrkdwn: ``&amp;`` is the widest a code point becomes
escape = Escaper(_units, _whole, widest=5)


def _section_text(notice: Notice) -> str:
    lines = [f"*{clip(notice.title, TITLE_LIMIT, escape)}* {escape(notice.headline)}"]
    lines += [escape(line) for line in (notice.local, notice.utc) if line]
    text = "\n".join(lines)
    if notice.description:
        room = SECTION_LIMIT - length(text) - 2
        if room >= MIN_DESCRIPTION:
            text += "\n\n" + clip(notice.description, room, escape)
    return text


def _fallback_text(notice: Notice, url: str | None) -> str:
    words = f"{notice.title} {notice.headline}"
    if notice.local and notice.utc:
        words += f": {notice.local} ({notice.utc})"
    tail = f" <{escape(url)}|{STREAM_LABEL}>" if url else ""
    return clip(words, TEXT_LIMIT - length(tail), escape) + tail


def message(notice: Notice) -> dict[str, Any]:
    url = link(notice.stream_url, BUTTON_URL_LIMIT)
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _section_text(notice), "verbatim": True},
        }
    ]
    if url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "open_stream",
                        "text": {"type": "plain_text", "text": STREAM_LABEL},
                        "url": url,
                    }
                ],
            }
        )
    return {
        "text": _fallback_text(notice, url),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }
