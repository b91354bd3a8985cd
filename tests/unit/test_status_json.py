"""The status body built from kept parts says exactly what the status model says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.models import Event
from scheduler.representation import event_status, status_json

BASE = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
instants = st.integers(min_value=-(10**7), max_value=10**7).map(
    lambda ms: BASE + timedelta(milliseconds=ms * 37)
)
texts = st.text(min_size=1, max_size=40)


@st.composite
def events_and_now(draw: st.DrawFn) -> tuple[Event, datetime]:
    start = draw(instants)
    end = start + timedelta(seconds=draw(st.integers(min_value=1, max_value=10**6)))
    actual_start = draw(st.none() | instants)
    actual_end = draw(st.none() | instants) if actual_start else None
    event = Event(
        id=draw(st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)),
        title=draw(texts),
        timezone="Europe/Brussels",
        start_local=start.replace(tzinfo=None),
        end_local=end.replace(tzinfo=None),
        start_utc=start,
        end_utc=end,
        stream_url=draw(st.none() | texts),
        channel=draw(st.none() | st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)),
        status=draw(st.sampled_from(["scheduled", "cancelled"])),
        actual_start=actual_start,
        actual_end=actual_end,
        sequence=draw(st.integers(min_value=0, max_value=5)),
        created_at=BASE,
        updated_at=draw(instants),
    )
    return event, draw(instants)


@settings(max_examples=300, deadline=None)
@given(events_and_now())
def test_the_kept_parts_give_the_models_json(case: tuple[Event, datetime]) -> None:
    event, now = case
    model = event_status(event, now=now)
    assert json.loads(status_json(event, now=now)) == json.loads(model.model_dump_json())
    # and the same again from the kept parts, a moment later
    later = now + timedelta(milliseconds=1234)
    expected = json.loads(event_status(event, now=later).model_dump_json())
    assert json.loads(status_json(event, now=later)) == expected


def test_a_changed_event_is_not_answered_from_its_old_parts() -> None:
    event = Event(
        id="ev1",
        title="Before",
        timezone="UTC",
        start_local=BASE.replace(tzinfo=None),
        end_local=(BASE + timedelta(hours=1)).replace(tzinfo=None),
        start_utc=BASE,
        end_utc=BASE + timedelta(hours=1),
        created_at=BASE,
        updated_at=BASE,
    )
    assert json.loads(status_json(event, now=BASE))["title"] == "Before"
    event.title = "After"
    assert json.loads(status_json(event, now=BASE))["title"] == "After"
