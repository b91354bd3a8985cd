"""Lifecycle rules: properties of the pure function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from scheduler.status import CANCELLED, SCHEDULED, State, lifecycle

T0 = datetime(2018, 5, 22, 16, 15, tzinfo=UTC)
offsets = st.integers(min_value=-7200, max_value=7200).map(lambda s: T0 + timedelta(seconds=s))


@given(
    start=offsets,
    length=st.integers(min_value=1, max_value=7200),
    actual_start=st.none() | offsets,
    actual_end=st.none() | offsets,
    cancelled=st.booleans(),
    now=offsets,
)
def test_lifecycle_properties(
    start: datetime,
    length: int,
    actual_start: datetime | None,
    actual_end: datetime | None,
    cancelled: bool,
    now: datetime,
) -> None:
    end = start + timedelta(seconds=length)
    result = lifecycle(
        status=CANCELLED if cancelled else SCHEDULED,
        start_utc=start,
        end_utc=end,
        actual_start=actual_start,
        actual_end=actual_end,
        now=now,
    )
    if cancelled:
        assert result.state is State.CANCELLED  # cancelling wins over everything
    elif actual_end is not None:
        assert result.state is State.ENDED  # an operator's end is final
    elif actual_start is not None:
        assert result.state is State.LIVE  # started streams stay live until ended
        assert result.overrunning == (now >= end)
    else:  # the schedule decides
        expected = State.UPCOMING if now < start else State.LIVE if now < end else State.ENDED
        assert result.state is expected
    if result.overrunning:
        assert result.state is State.LIVE and actual_start is not None


def test_schedule_boundaries() -> None:
    end = T0 + timedelta(hours=1)
    states = [
        lifecycle(
            status=SCHEDULED, start_utc=T0, end_utc=end, actual_start=None, actual_end=None, now=n
        ).state
        for n in (T0 - timedelta(microseconds=1), T0, end - timedelta(microseconds=1), end)
    ]
    assert states == [State.UPCOMING, State.LIVE, State.LIVE, State.ENDED]
