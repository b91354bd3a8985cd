"""Group commit: many requests' writes in one transaction, each answered as its own.

A small write costs its transaction (round trips through a driver's thread or
to a server, a commit) far more than its rows. :class:`GroupCommit` lets
concurrent requests share that cost: a request submits its item and waits; a
writer takes everything queued (up to ``max_batch``), writes it with one call
of ``write``, then calls ``committed`` for each item in order and answers each
request. With no write under way the first item is written at once, so an idle
server adds no wait; items that arrive during a write go in the next one.

Each answer stays exact. A batch that fails is written again one item per
call, so an item the database refuses (a clash, a bad value) fails only its
own request, unless the failure says the database cannot be reached or
refuses writes (:class:`~scheduler.exceptions.StoreUnavailable`): then every
waiting request gets that error, as it would have alone. A request cancelled
before its write began is left out; once begun, the write finishes (as a
single transaction would have committed). :meth:`close` refuses new items and
waits for the queue to drain; a writer that is itself cancelled (the loop
closing) fails what it still holds, so no request waits for ever.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from scheduler.exceptions import StoreBusy, StoreUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: loop turns a writer waits at most for more items to join (see ``_gather``)
GATHER_TURNS = 8
#: a loop turn shorter than this ran nothing else: no more items are on their way
QUIET_TURN = 0.0002  # seconds


@dataclass
class _Waiting(Generic[T]):
    item: T
    done: asyncio.Future[None]


class GroupCommit(Generic[T]):
    """Writes submitted items in batches.

    ``writers`` batches may be written at a time (a database that runs
    transactions side by side). With ``gather``, a writer first lets items
    already on their way join its batch: it yields to the loop while the loop
    has other work (answers going out, the next requests coming in) or the queue
    grows, up to :data:`GATHER_TURNS` turns; on an idle loop that is one turn of
    microseconds: fewer, fuller batches.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[None]],
        committed: Callable[[T], Awaitable[None]],
        *,
        max_batch: int,
        writers: int = 1,
        gather: bool = True,
    ) -> None:
        self._write = write
        self._committed = committed
        self.max_batch = max_batch
        self.writers = writers
        self.gather = gather
        self._queue: list[_Waiting[T]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False

    async def submit(self, item: T) -> None:
        """Write ``item`` with others; return once written and ``committed`` was
        called, or raise what writing it raised."""
        if self._closed:
            raise StoreUnavailable("the service is stopping; retry the request")
        loop = asyncio.get_running_loop()
        waiting = _Waiting(item, loop.create_future())
        self._queue.append(waiting)
        if len(self._running) < self.writers:
            self._running.add(loop.create_task(self._drain()))
        await waiting.done

    async def close(self) -> None:
        """Refuse new items; wait until every queued one is written (or failed)."""
        self._closed = True
        while self._running:
            await asyncio.wait(set(self._running))

    async def _drain(self) -> None:
        batch: list[_Waiting[T]] = []
        try:
            while self._queue:
                if self.gather:
                    await self._gather()
                taken = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                batch = [w for w in taken if not w.done.done()]  # not cancelled meanwhile
                if batch:
                    await self._commit(batch)
                batch = []
        except Exception:
            logger.exception("writing a batch failed", extra={"action": "write"})
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._running.discard(task)
            # only after a failure of our own or a cancellation: nobody waits for ever
            stopped = StoreUnavailable("the service stopped before storing this; retry")
            for waiting in batch:
                _settle(waiting, _own(stopped))
            if not self._running:
                for waiting in self._queue:
                    _settle(waiting, _own(stopped))
                self._queue.clear()

    async def _gather(self) -> None:
        loop = asyncio.get_running_loop()
        for _turn in range(GATHER_TURNS):
            size, began = len(self._queue), loop.time()
            if size >= self.max_batch:
                return
            await asyncio.sleep(0)
            if len(self._queue) == size and loop.time() - began < QUIET_TURN:
                return

    async def _commit(self, batch: list[_Waiting[T]]) -> None:
        try:
            await self._write([w.item for w in batch])
        except StoreUnavailable as err:
            if len(batch) == 1 or not isinstance(err, StoreBusy):
                for waiting in batch:  # no database: each request gets its 503
                    _settle(waiting, _own(err))
                return
            failure: Exception = err
        except Exception as err:
            if len(batch) == 1:
                _settle(batch[0], err)
                return
            failure = err
        else:
            await self._done(batch)
            return
        logger.info(
            "a batch of %d failed (%s); writing them one at a time",
            len(batch),
            type(failure).__name__,
            extra={"action": "write"},
        )
        await self._one_by_one(batch)

    async def _one_by_one(self, batch: list[_Waiting[T]]) -> None:
        for number, waiting in enumerate(batch):
            try:
                await self._write([waiting.item])
            except Exception as err:
                _settle(waiting, err)
                if isinstance(err, StoreUnavailable) and not isinstance(err, StoreBusy):
                    for rest in batch[number + 1 :]:  # the database went away meanwhile
                        _settle(rest, _own(err))
                    return
            else:
                await self._done([waiting])

    async def _done(self, batch: list[_Waiting[T]]) -> None:
        """Written: ``committed`` for each item in order, then its answer."""
        for waiting in batch:
            try:
                await self._committed(waiting.item)
            except Exception:  # written all the same: the request is answered as such
                logger.exception("after a write", extra={"action": "write"})
            _settle(waiting)


def _own(err: Exception) -> Exception:
    """A copy of ``err`` for one of several waiting requests (each raises its own)."""
    mine = copy.copy(err)
    mine.__cause__ = err.__cause__
    return mine


def _settle(waiting: _Waiting[T], error: BaseException | None = None) -> None:
    if waiting.done.done():
        return  # its request was cancelled: nobody is waiting
    if error is None:
        waiting.done.set_result(None)
    else:
        waiting.done.set_exception(error)
