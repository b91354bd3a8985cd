"""Chat-native webhook bodies: Slack, Discord and Microsoft Teams. Pure.

A subscription whose ``format`` is ``slack``, ``discord`` or ``teams`` gets
the platform's own incoming-webhook JSON instead of the Standard Webhooks
body: built once per trigger and format at fan-out, stored with the delivery,
and sent (unsigned, with its ``webhook-id``) through the same retries, SSRF
guard and delivery log. ``wording`` says what a message says; one module per
platform says how that platform shows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from scheduler.models import WebhookFormat
from scheduler.webhooks.chat import discord, slack, teams
from scheduler.webhooks.chat.wording import Notice, event_notice, ping_notice

__all__ = ["Notice", "chat_body", "event_notice", "ping_notice"]

RENDERERS: dict[str, Callable[[Notice], dict[str, Any]]] = {
    WebhookFormat.SLACK.value: slack.message,
    WebhookFormat.DISCORD.value: discord.message,
    WebhookFormat.TEAMS.value: teams.message,
}


def chat_body(format_: str, notice: Notice) -> str:
    """The body of ``notice`` in chat format ``format_``, as compact JSON text."""
    return json.dumps(RENDERERS[format_](notice), separators=(",", ":"), ensure_ascii=False)
