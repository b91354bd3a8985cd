"""A broadcast to many streams holds the garbage collector until it is written
(a full collection in the middle delayed every viewer by ~0.4 s at 10,000
streams), for a bounded time that later broadcasts do not extend."""

from __future__ import annotations

import asyncio
import gc

import pytest

from scheduler import collector
from scheduler.collector import LARGE_BROADCAST
from scheduler.services.live import LiveHub


async def test_a_large_broadcast_holds_collections_for_a_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert gc.isenabled()
    monkeypatch.setattr(collector, "HOLD_SECONDS", 0.2)
    hub = LiveHub()
    few = [hub.subscribe("ev1") for _ in range(10)]
    hub.publish("ev1", {"state": "upcoming"})
    assert gc.isenabled()  # ten streams: nothing to hold for
    many = [hub.subscribe("ev1") for _ in range(LARGE_BROADCAST)]
    hub.publish("ev1", {"state": "live"})
    assert not gc.isenabled()
    await asyncio.sleep(0.15)
    hub.publish("ev1", {"state": "ended"})  # a second broadcast does not extend the hold
    await asyncio.sleep(0.1)
    assert gc.isenabled()
    for sub in few + many:
        hub.unsubscribe(sub)
