"""What Slack, Discord and Teams accept, and what their readers see.

Each ``*_problems`` function lists what the platform would refuse in a body
(empty: it is accepted), from the platform's published rules:

- Slack: Block Kit as the Slack SDK models it (``slack_sdk.models.blocks``
  validates each block's documented limits: a section's text at most 3,000
  characters, a button's label 75 and URL 3,000), and ``text`` at most 40,000
  characters (chat.postMessage, "Truncating content").
- Discord: the limits of "Embed Limits" and "Execute Webhook": ``content`` at
  most 2,000 characters, embed title 256, description 4,096, the embed's texts
  together 6,000, colour a 24-bit integer, ``timestamp`` ISO 8601.
- Teams: the card validates against the Adaptive Card 1.5 JSON schema
  (``tests/testdata/adaptive-card-1.5.schema.json``, see the README there) and
  the message is at most 28 KB (Teams' message size limit).

Lengths are checked both as code points (what Python-side APIs count) and as
UTF-16 code units (what JavaScript counts).

``*_visible`` give the text a reader sees, escapes undone, to compare with what
the event says.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

SCHEMA = Path(__file__).parent / "testdata" / "adaptive-card-1.5.schema.json"
ZWSP = "\u200b"


def units16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _over(text: str, limit: int) -> bool:
    return len(text) > limit or units16(text) > limit


def slack_problems(body: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(body.get("text"), str) or not body["text"]:
        problems.append("text is missing")
    elif _over(body["text"], 40_000):
        problems.append("text is over 40,000 characters")
    blocks = body.get("blocks", [])
    if not 1 <= len(blocks) <= 50:
        problems.append("1 to 50 blocks")
    for raw in blocks:
        try:
            block = Block.parse(raw)
            assert block is not None, f"unknown block {raw.get('type')}"
            block.validate_json()
        except (SlackObjectFormationError, AssertionError) as err:
            problems.append(f"block {raw.get('type')}: {err}")
        for text in _texts(raw):
            # the SDK counts code points; a JavaScript client counts UTF-16 units
            if units16(text) > 3_000:
                problems.append(f"a block text is {units16(text)} UTF-16 units")
    return problems


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["text"]] if isinstance(node.get("text"), str) else []
        return found + [t for value in node.values() for t in _texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    return []


def discord_problems(body: dict[str, Any]) -> list[str]:
    problems = []
    content = body.get("content", "")
    if _over(content, 2_000):
        problems.append("content is over 2,000 characters")
    embeds = body.get("embeds", [])
    if not content and not embeds:
        problems.append("neither content nor embeds")
    if len(embeds) > 10:
        problems.append("more than 10 embeds")
    for embed in embeds:
        title, description = embed.get("title", ""), embed.get("description", "")
        if _over(title, 256):
            problems.append("embed title is over 256 characters")
        if _over(description, 4_096):
            problems.append("embed description is over 4,096 characters")
        footer = embed.get("footer", {}).get("text", "")
        if _over(title + description + footer, 6_000):
            problems.append("embed texts are over 6,000 characters together")
        if not isinstance(embed.get("color", 0), int) or not 0 <= embed.get("color", 0) < 2**24:
            problems.append("colour is not a 24-bit integer")
        if "timestamp" in embed:
            datetime.fromisoformat(embed["timestamp"].replace("Z", "+00:00"))
        if "url" in embed and not re.fullmatch(r"https?://[!#-;=?-\[\]_a-z~]+", embed["url"]):
            problems.append(f"embed url is not a well-formed URL: {embed['url'][:80]}")
    if body.get("allowed_mentions") != {"parse": []}:
        problems.append("mentions are allowed")
    return problems


@cache
def _card_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return schema


def teams_problems(body: dict[str, Any]) -> list[str]:
    problems = []
    if len(json.dumps(body, ensure_ascii=False).encode()) > 28 * 1024:
        problems.append("the message is over 28 KB")
    if body.get("type") != "message" or len(body.get("attachments", [])) != 1:
        problems.append("not a message with one attachment")
        return problems
    attachment = body["attachments"][0]
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append("the attachment is not an Adaptive Card")
    card = attachment.get("content", {})
    if card.get("version") != "1.5":
        problems.append("not version 1.5")
    validator = jsonschema.Draft6Validator(_card_schema())
    problems += [f"schema: {e.message[:200]}" for e in validator.iter_errors(card)]
    return problems


PROBLEMS = {"slack": slack_problems, "discord": discord_problems, "teams": teams_problems}


# --- what a reader sees ---------------------------------------------------------


def markdown_visible(text: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace(ZWSP, "")


def slack_visible(body: dict[str, Any]) -> str:
    """The section's text as Slack shows it (entities decoded)."""
    return html.unescape(body["blocks"][0]["text"]["text"])


def discord_visible(body: dict[str, Any]) -> str:
    embed = body["embeds"][0]
    parts = [body["content"], embed["title"], embed["description"]]
    return "\n\n".join(markdown_visible(p) for p in parts)


def teams_text(text: str) -> str:
    """A TextBlock's text as shown: escapes undone, a blank line a line break."""
    return markdown_visible(text).replace("\n\n", "\n")


def teams_visible(body: dict[str, Any]) -> str:
    card = body["attachments"][0]["content"]
    parts: list[str] = []
    for element in card["body"]:
        if element["type"] == "TextBlock":
            parts.append(element["text"])
        elif element["type"] == "FactSet":
            parts += [f"{f['title']}: {f['value']}" for f in element["facts"]]
    return "\n\n".join(teams_text(p) for p in parts)


VISIBLE = {"slack": slack_visible, "discord": discord_visible, "teams": teams_visible}


def stream_links(format_: str, body: dict[str, Any]) -> list[str]:
    """The URLs a reader can open."""
    if format_ == "slack":
        return [e["url"] for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    if format_ == "discord":
        return [e["url"] for e in body["embeds"] if "url" in e]
    card = body["attachments"][0]["content"]
    return [a["url"] for a in card.get("actions", []) if a["type"] == "Action.OpenUrl"]
