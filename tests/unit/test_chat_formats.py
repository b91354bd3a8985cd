"""Chat-native bodies (Slack, Discord, Teams) as fan-out builds them: what they
say, that each platform accepts them, and that user text cannot break or
abuse them. Pure: no database, no network, an injected clock."""

from __future__ import annotations

import html
import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.models import Event, EventType, Subscription, Trigger
from scheduler.reminders.fanout import fan_out
from scheduler.webhooks.chat import discord, slack, teams
from scheduler.webhooks.chat.clipping import MAX_CLUSTER
from tests.chat_platforms import PROBLEMS, VISIBLE, markdown_visible, stream_links, teams_text
from tests.conftest import FakeClock

FORMATS = ("slack", "discord", "teams")
T0 = datetime(2018, 5, 22, 16, 15, tzinfo=UTC)  # 18:15 in Brussels (CEST)
# the longest text the API accepts (models.events): title 200, description 10,000
TITLE_MAX, DESCRIPTION_MAX = 200, 10_000
HOSTILE = "<!channel> @everyone @here <@&123> <@456> & <b>*bold*</b> "
EMOJI = "👩‍👩‍👧 🇧🇪 👍🏽 é "  # a ZWJ family, a flag, a skin tone, a combining accent


def event(**fields: Any) -> Event:
    values: dict[str, Any] = {
        "id": "ev1",
        "title": "Facebook CEO at the European Parliament",
        "description": "Hearing in the Conference of Presidents.",
        "stream_url": "https://www.europarl.europa.eu/live",
        "timezone": "Europe/Brussels",
        "start_local": datetime(2018, 5, 22, 18, 15),
        "end_local": datetime(2018, 5, 22, 19, 30),
        "start_utc": T0,
        "end_utc": T0 + timedelta(minutes=75),
        "reminders": [15],
        "created_at": T0 - timedelta(days=1),
        "updated_at": T0 - timedelta(days=1),
    }
    values.update(fields)
    return Event(**values)


def sub(format_: str) -> Subscription:
    return Subscription(
        id=f"sub-{format_}",
        url=f"https://hooks.example/{format_}",
        types=[],
        format=format_,
        secret="whsec_x",
    )


def bodies(
    type_: EventType,
    ev: Event | None = None,
    *,
    minutes_before: int | None = None,
    detail: dict[str, Any] | None = None,
    formats: tuple[str, ...] = FORMATS,
) -> dict[str, dict[str, Any]]:
    """Fan one due trigger of ``ev`` out to one subscription per format."""
    ev = ev or event()
    due = {
        EventType.REMINDER: ev.start_utc - timedelta(minutes=minutes_before or 0),
        EventType.ENDED: ev.end_utc,
    }.get(type_, ev.start_utc)
    trigger = Trigger(
        id=f"ev1:{type_.value}",
        event_id=ev.id,
        type=type_.value,
        minutes_before=minutes_before,
        due_at=due,
        claim_attempt=1,
        detail=detail,
    )
    out = fan_out(
        [trigger],
        events={ev.id: ev},
        audience={(type_.value, None): [sub(f) for f in formats]},
        clock=FakeClock(due),
        owner="me",
        lease=timedelta(seconds=60),
        grace_seconds=300,
    )
    return {
        row["subscription_id"].removeprefix("sub-"): json.loads(row["payload"])
        for row in out.deliveries
    }


LOCAL = "Tue 22 May 2018 18:15-19:30 Europe/Brussels (UTC+02:00)"
UTC_SPAN = "Tue 22 May 2018 16:15-17:30 UTC"


@pytest.mark.parametrize(
    ("type_", "extra", "says"),
    [
        (EventType.REMINDER, {"minutes_before": 15}, "starts in 15 minutes"),
        (EventType.REMINDER, {"minutes_before": 90}, "starts in 1 hour 30 minutes"),
        (EventType.REMINDER, {"minutes_before": 1}, "starts in 1 minute"),
        (EventType.REMINDER, {"minutes_before": 2880}, "starts in 2 days"),
        (EventType.STARTED, {}, "is live now"),
        (EventType.ENDED, {}, "has ended"),
        (EventType.CANCELLED, {}, "was cancelled"),
        (EventType.UPDATED, {}, "was changed"),
    ],
)
def test_every_message_says_what_happened_when_and_where_to_watch(
    type_: EventType, extra: dict[str, Any], says: str
) -> None:
    for format_, body in bodies(type_, **extra).items():
        assert PROBLEMS[format_](body) == []
        seen = VISIBLE[format_](body)
        assert "Facebook CEO at the European Parliament" in seen, format_
        # the whole phrase ("1 minute", not "1 minutes"), capitalised or not
        assert re.search(f"(?i:{says[0]}){re.escape(says[1:])}(?![a-z])", seen), (format_, seen)
        assert LOCAL in seen and UTC_SPAN in seen, (format_, seen)
        assert "Hearing in the Conference of Presidents." in seen
        assert stream_links(format_, body) == ["https://www.europarl.europa.eu/live"]


def test_a_moved_event_says_where_it_went_in_its_own_zone() -> None:
    moved = event(
        start_local=datetime(2018, 10, 28, 2, 30),
        end_local=datetime(2018, 10, 28, 3, 30),
        start_utc=datetime(2018, 10, 28, 1, 30, tzinfo=UTC),  # after the fall-back
        end_utc=datetime(2018, 10, 28, 2, 30, tzinfo=UTC),
    )
    for format_, body in bodies(EventType.UPDATED, moved, detail={"moved": True}).items():
        seen = VISIBLE[format_](body)
        assert "was moved to Sun 28 Oct 2018 02:30 Europe/Brussels" in seen.replace("Was", "was"), (
            format_,
            seen,
        )
        assert "Sun 28 Oct 2018 02:30-03:30 Europe/Brussels (UTC+01:00)" in seen
        assert "Sun 28 Oct 2018 01:30-02:30 UTC" in seen


def test_an_event_across_a_clock_change_and_midnight_shows_both_dates_and_offsets() -> None:
    overnight = event(
        start_utc=datetime(2018, 10, 27, 22, 0, tzinfo=UTC),  # 00:00 CEST on the 28th
        end_utc=datetime(2018, 10, 28, 3, 0, tzinfo=UTC),  # 04:00 CET
    )
    seen = VISIBLE["slack"](bodies(EventType.STARTED, overnight, formats=("slack",))["slack"])
    assert "Sun 28 Oct 2018 00:00-04:00 Europe/Brussels (UTC+02:00 to UTC+01:00)" in seen
    assert "Sat 27 Oct 2018 22:00 - Sun 28 Oct 2018 03:00 UTC" in seen


def test_standard_subscribers_keep_the_signed_body_beside_chat_ones() -> None:
    out = bodies(EventType.STARTED, formats=("standard", *FORMATS))
    assert out["standard"]["type"] == "event.started"
    assert out["standard"]["data"]["event"]["id"] == "ev1"
    assert {"text", "blocks"} <= out["slack"].keys()
    assert {"content", "embeds"} <= out["discord"].keys()
    assert out["teams"]["type"] == "message"


def _longest(seed: str, size: int) -> str:
    text = ""
    while len(text) < size:
        text += seed
    return text[:size].strip() or "x"


def described(format_: str, body: dict[str, Any]) -> str:
    """The description as the reader sees it (escapes undone)."""
    if format_ == "slack":
        return html.unescape(body["blocks"][0]["text"]["text"].split("\n\n", 1)[1])
    if format_ == "discord":
        text = body["embeds"][0]["description"].split("\n\n", 1)[1]
        return markdown_visible(text.rsplit("\n\nWatch the stream: <", 1)[0])
    return teams_text(body["attachments"][0]["content"]["body"][-1]["text"])


def _joins(text: str, i: int) -> bool:
    ch = text[i]
    return (
        unicodedata.combining(ch) != 0
        or ch in "\u200d\ufe0f"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"
        or (i > 0 and text[i - 1] == "\u200d" and ord(ch) > 0x7F)
    )


def _joined_run(text: str, at: int) -> int:
    """How many code points around ``at`` are held together by joiners and marks."""
    start, end = at, at
    while start > 0 and _joins(text, start):
        start -= 1
    while end < len(text) and _joins(text, end):
        end += 1
    return end - start + 1


def assert_clean_cut(original: str, seen: str) -> None:
    """``seen`` is ``original``, or its start cut between two clusters and ended by "…"."""
    if seen == original:
        return
    assert seen.endswith("…"), seen[-20:]
    kept = seen.removesuffix("…")
    assert original.startswith(kept), (kept[-20:], original[len(kept) - 20 : len(kept) + 5])
    rest = original[len(kept) :]
    if _joined_run(original, len(kept)) >= MAX_CLUSTER:
        return  # a pile of marks or joiners longer than any character: cut anywhere
    # a joiner joins symbols (emoji), not ASCII
    assert not (kept.endswith("\u200d") and ord(rest[0]) > 0x7F), "cut after a joiner"
    assert not unicodedata.combining(rest[0]), "cut before a combining mark"
    assert rest[0] not in "\u200d\ufe0f", "cut before a joiner or variation selector"
    assert not ("\U0001f3fb" <= rest[0] <= "\U0001f3ff"), "skin tone cut off its emoji"

    def regional(ch: str) -> bool:
        return "\U0001f1e6" <= ch <= "\U0001f1ff"

    run = len(kept) - len(kept.rstrip("".join(chr(c) for c in range(0x1F1E6, 0x1F200))))
    assert run % 2 == 0 or not regional(rest[0]), "a flag's two letters split"


@pytest.mark.parametrize(
    "seed",
    [
        "Line " + EMOJI + HOSTILE + "\n- item\n1. first\n# heading\n",
        # no space to back off to: the cut falls wherever the limit is
        "👩‍👩‍👧🇧🇪👍🏽é<@&123>&amp;<!channel>@everyone*_\\",
        "é&<>\\👍🏽🇧🇪",
    ],
)
def test_the_longest_title_and_description_are_cut_cleanly_and_neutralised(seed: str) -> None:
    title = _longest(seed, TITLE_MAX)
    description = _longest(seed, DESCRIPTION_MAX)
    out = bodies(EventType.REMINDER, event(title=title, description=description), minutes_before=15)
    for format_, body in out.items():
        assert PROBLEMS[format_](body) == [], format_
        raw = json.dumps(body, ensure_ascii=False)
        seen = described(format_, body)
        assert seen.endswith("…") and len(seen) > 500, format_  # cut, but not to nothing
        assert_clean_cut(description, seen)
        if format_ == "slack":
            assert "<!channel>" not in raw and "<@&123>" not in raw
            text = body["blocks"][0]["text"]["text"]
            for piece in text.split("&")[1:]:
                assert piece.startswith(("amp;", "lt;", "gt;")), "cut inside an entity"
        else:
            assert "<@&123>" not in raw and "<!channel>" not in raw
            for piece in _escaped_texts(format_, body):
                stripped = piece.removesuffix("…")
                trailing = len(stripped) - len(stripped.rstrip("\\"))
                assert trailing % 2 == 0, "cut inside a backslash escape"
        if format_ == "discord":
            assert body["allowed_mentions"] == {"parse": []}
            assert "@everyone" not in raw and "@here" not in raw
            assert_clean_cut(title, markdown_visible(body["embeds"][0]["title"]))
        if format_ == "teams":
            card = body["attachments"][0]["content"]
            assert_clean_cut(title, teams_text(card["body"][0]["text"]))


def _escaped_texts(format_: str, body: dict[str, Any]) -> list[str]:
    if format_ == "discord":
        embed = body["embeds"][0]
        return [body["content"], embed["title"], embed["description"]]
    card = body["attachments"][0]["content"]
    return [e["text"] for e in card["body"] if e["type"] == "TextBlock"]


def test_markup_in_user_text_is_shown_as_written() -> None:
    title = "Q&A: <script> *not bold* _nor italic_ [link](https://evil.example) `code`"
    description = "- not a list\n1. not numbered\n# not a heading\n> not a quote\n~~no~~ ||no||"
    out = bodies(EventType.STARTED, event(title=title, description=description))
    for format_, body in out.items():
        assert PROBLEMS[format_](body) == []
        seen = VISIBLE[format_](body)
        assert title in seen, format_
        if format_ != "slack":  # Slack has no escape for * and _ (only for & < >)
            assert description in seen, format_
            assert "[link](" not in json.dumps(body), format_  # no masked link survives


def test_a_stream_url_with_characters_platforms_refuse_is_encoded_not_dropped() -> None:
    url = 'https://ep.example/live?a=1&b=<2>|x"y"é'
    for format_, body in bodies(EventType.STARTED, event(stream_url=url)).items():
        assert PROBLEMS[format_](body) == []
        assert stream_links(format_, body) == [
            "https://ep.example/live?a=1&b=%3C2%3E%7Cx%22y%22%C3%A9"
        ], format_


def test_a_message_without_description_or_stream_has_no_empty_parts() -> None:
    out = bodies(EventType.STARTED, event(description=None, stream_url=None))
    for format_, body in out.items():
        assert PROBLEMS[format_](body) == []
        assert stream_links(format_, body) == []
    assert [b["type"] for b in out["slack"]["blocks"]] == ["section"]


_texts = st.text(
    alphabet=st.sampled_from(
        [
            *"ab <>&@*_\\`#-+=|[]()\n\t.1 2",
            "é",
            "👍",
            "\U0001f3fd",
            "\u200d",
            "👩",
            "🇧",
            "🇪",
            "\u0301",
            "\ufe0f",
        ]
    ),
    min_size=1,
    max_size=300,
)


@settings(max_examples=60, deadline=None)
@given(title=_texts, description=_texts, length=st.integers(1, DESCRIPTION_MAX))
def test_any_text_gives_bodies_each_platform_accepts(
    title: str, description: str, length: int
) -> None:
    title = title.replace("\n", " ").strip() or "x"  # titles are one line (the API refuses \n)
    description = (description * (length // len(description) + 1))[:length]
    out = bodies(EventType.STARTED, event(title=title, description=description))
    for format_, body in out.items():
        assert PROBLEMS[format_](body) == [], format_
        json.dumps(body).encode("utf-8")  # no lone surrogates
        if description.strip():
            assert_clean_cut(description.rstrip(), described(format_, body).rstrip())


def test_a_joiner_or_mark_does_not_carry_markup_past_the_escapers() -> None:
    """Regression: a zero-width joiner or a combining mark before ``<`` or ``@``
    put them inside one cluster, and only a cluster's first character was escaped."""
    title = "x\u200d<@&123> 👍\u200d@everyone e\u0301*bold* 👩\u200d<!channel>"
    for format_, body in bodies(EventType.STARTED, event(title=title)).items():
        raw = json.dumps(body, ensure_ascii=False)
        assert "<@&123>" not in raw and "<!channel>" not in raw, format_
        if format_ == "discord":
            assert "@everyone" not in raw
        if format_ != "slack":
            shown_title = _escaped_texts(format_, body)[1 if format_ == "discord" else 0]
            assert "e\u0301\\*bold\\*" in shown_title, format_


def test_the_platform_checks_refuse_what_the_platforms_refuse() -> None:
    """The checkers above are worth something only if they fail on a bad body."""
    good = bodies(EventType.STARTED)
    slack = json.loads(json.dumps(good["slack"]))
    slack["blocks"][0]["text"]["text"] = "x" * 2_999 + "👍"  # 3,001 UTF-16 units
    assert PROBLEMS["slack"](slack)
    slack["blocks"][0]["text"]["text"] = "x" * 3_001
    assert PROBLEMS["slack"](slack)
    discord = json.loads(json.dumps(good["discord"]))
    discord["embeds"][0]["description"] = "x" * 4_097
    assert PROBLEMS["discord"](discord)
    discord = json.loads(json.dumps(good["discord"]))
    discord["allowed_mentions"] = {"parse": ["everyone"]}
    assert PROBLEMS["discord"](discord)
    teams = json.loads(json.dumps(good["teams"]))
    teams["attachments"][0]["content"]["body"][0]["style"] = "shouting"
    assert PROBLEMS["teams"](teams)
    teams["attachments"][0]["content"]["body"][0] = {"type": "TextBlock"}  # no text
    assert PROBLEMS["teams"](teams)


@settings(max_examples=300, deadline=None)
@given(text=_texts)
def test_escaping_whole_texts_and_unit_by_unit_agree(text: str) -> None:
    """Text that fits is escaped whole (faster); text that may not, unit by unit:
    both must write the same."""
    for escaper in (slack.escape, discord.escape, teams.escape):
        assert escaper.whole(text) == "".join(escaper.units(text)), escaper


def test_line_breaks_of_a_description_show_in_every_platform() -> None:
    """Slack and Discord break a line at ``\\n``; a Teams TextBlock (Markdown)
    needs a blank line, so there each break is doubled."""
    out = bodies(EventType.STARTED, event(description="Agenda:\nitem one\nitem two"))
    assert out["slack"]["blocks"][0]["text"]["text"].endswith("Agenda:\nitem one\nitem two")
    assert "Agenda:\nitem one\nitem two" in out["discord"]["embeds"][0]["description"]
    card = out["teams"]["attachments"][0]["content"]
    assert card["body"][-1]["text"] == "Agenda:\n\nitem one\n\nitem two"
