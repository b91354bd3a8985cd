"""Discord webhook messages: ``content`` and one embed. Pure.

``content`` says what happened in one line (the part a notification shows);
the embed carries the title (linking to the stream), what happened, when (in
the event's zone and in UTC), the description and the stream link, the
event's start as ``timestamp`` (Discord shows it in each reader's own time)
and a colour per kind of message. User text goes through Discord's Markdown
escaper with mentions neutralised (``@`` is followed by a zero-width space),
and ``allowed_mentions`` parses none, so ``@everyone`` or ``<@&123>`` in a
title pings nobody.

Limits (Discord's documentation): ``content`` at most 2,000 characters, an
embed's title 256, its description 4,096, an embed's texts together 6,000.
"""

from __future__ import annotations

from typing import Any

from scheduler.models import PING_TYPE, EventType
from scheduler.timezones import isoformat_utc
from scheduler.webhooks.chat import markdown
from scheduler.webhooks.chat.clipping import clip, length
from scheduler.webhooks.chat.links import link
from scheduler.webhooks.chat.wording import STREAM_LABEL, Notice

CONTENT_LIMIT = 2_000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4_096
EMBED_TOTAL_LIMIT = 6_000
URL_LIMIT = 2_048  # the API's own limit on stream_url; longer (encoded) links are left out
CONTENT_TITLE_LIMIT = 1_000
MIN_DESCRIPTION = 20

COLOURS = {
    EventType.REMINDER.value: 0x3B82F6,  # blue: coming up
    EventType.STARTED.value: 0x22C55E,  # green: live
    EventType.ENDED.value: 0x6B7280,  # grey: over
    EventType.UPDATED.value: 0xF59E0B,  # amber: changed
    EventType.CANCELLED.value: 0xEF4444,  # red: off
    PING_TYPE: 0x8B5CF6,
}

escape = markdown.MARKDOWN_NO_MENTIONS


def _sentence(headline: str) -> str:
    return headline[:1].upper() + headline[1:]


def _description(notice: Notice, url: str | None) -> str:
    lines = [f"**{escape(_sentence(notice.headline))}**"]
    lines += [escape(line) for line in (notice.local, notice.utc) if line]
    text = "\n".join(lines)
    tail = f"\n\n{escape(STREAM_LABEL)}: <{url}>" if url else ""
    if notice.description:
        room = DESCRIPTION_LIMIT - length(text) - length(tail) - 2
        if room >= MIN_DESCRIPTION:
            text += "\n\n" + clip(notice.description, room, escape)
    return text + tail


def message(notice: Notice) -> dict[str, Any]:
    url = link(notice.stream_url, URL_LIMIT)
    embed: dict[str, Any] = {
        "title": clip(notice.title, TITLE_LIMIT, escape),
        "description": _description(notice, url),
        "color": COLOURS.get(notice.kind, COLOURS[PING_TYPE]),
    }
    if url:
        embed["url"] = url
    if notice.starts_at is not None:
        embed["timestamp"] = isoformat_utc(notice.starts_at)
    content = f"**{clip(notice.title, CONTENT_TITLE_LIMIT, escape)}** {escape(notice.headline)}"
    return {
        "content": content,
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }
