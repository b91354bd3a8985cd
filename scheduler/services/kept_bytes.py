"""Answers kept as bytes until a change or the clock can alter them.

The read path's keeping (``services.event_pages`` for the API's pages,
``services.public_pages`` for the HTML ones): each answer is built once per
key (concurrent askers wait for the one build,
:class:`~scheduler.services.single_flight.SingleFlight`), kept with the
instant until which the clock cannot change it, and forgotten when any change
is heard (:meth:`KeptBytes.forget_all`, which also refuses answers whose build
began before it). The total is bounded; least recently used first out.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime

from scheduler.services.single_flight import SingleFlight
from scheduler.timezones import Clock


def strong_tag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@dataclass(frozen=True)
class Kept:
    body: bytes
    #: when the clock may change what this answer says; None: only a change can
    valid_until: datetime | None
    #: the answer's entity tag; left out: a strong tag of ``body``
    etag: str = ""
    #: False: answer this request with it, but do not keep it
    keep: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        if not self.etag:
            object.__setattr__(self, "etag", strong_tag(self.body))


class KeptBytes:
    def __init__(self, clock: Clock, *, max_bytes: int) -> None:
        self.clock = clock
        self.max_bytes = max_bytes
        self._kept: OrderedDict[Hashable, Kept] = OrderedDict()
        self._bytes = 0
        self._generation = 0
        self._building: SingleFlight[Kept] = SingleFlight()
        self.builds = 0  # answers built (for tests and benchmarks)

    def fresh(self, key: Hashable) -> Kept | None:
        """The kept answer if the clock has not overtaken it (no await: the fast path)."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        if kept.valid_until is None or self.clock() < kept.valid_until:
            self._kept.move_to_end(key)
            return kept
        self._forget(key)
        return None

    async def get(self, key: Hashable, build: Callable[[], Awaitable[Kept]]) -> Kept:
        kept = self.fresh(key)
        if kept is not None:
            return kept

        async def build_and_keep() -> Kept:
            generation = self._generation
            answer = await build()
            self.builds += 1
            fits = len(answer.body) <= self.max_bytes // 4
            current = answer.valid_until is None or self.clock() < answer.valid_until
            if answer.keep and fits and current and generation == self._generation:
                self._keep(key, answer)
            return answer

        return await self._building.run(key, build_and_keep)

    def forget_all(self) -> None:
        self._generation += 1
        self._kept.clear()
        self._bytes = 0

    def _keep(self, key: Hashable, answer: Kept) -> None:
        self._forget(key)
        self._kept[key] = answer
        self._bytes += len(answer.body)
        while self._bytes > self.max_bytes and self._kept:
            _old, dropped = self._kept.popitem(last=False)
            self._bytes -= len(dropped.body)

    def _forget(self, key: Hashable) -> None:
        dropped = self._kept.pop(key, None)
        if dropped is not None:
            self._bytes -= len(dropped.body)
