"""Group commit's rules, with a recording writer instead of a database: how items
are batched, that each request gets its own answer when a batch fails, and that
closing or cancelling leaves nobody waiting. (The real writes are in
tests/http/test_concurrent_creates.py and tests/integration/test_creation_store.py.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import pytest

from scheduler.exceptions import StoreBusy, StoreConflict, StoreUnavailable
from scheduler.services.group_commit import GroupCommit


class Recorder:
    """A writer that records its calls; items named in ``refuse`` clash, and
    ``outage`` makes every write fail as an unreachable database does."""

    def __init__(self, refuse: Sequence[str] = ()) -> None:
        self.calls: list[list[str]] = []
        self.committed: list[str] = []
        self.refuse = set(refuse)
        self.outage: StoreUnavailable | None = None
        self.gate: asyncio.Event | None = None  # when set up, a write waits for it
        self._called = asyncio.Condition()

    async def write(self, items: Sequence[str]) -> None:
        async with self._called:
            self.calls.append(list(items))
            self._called.notify_all()
        if self.gate is not None:
            await self.gate.wait()
        if self.outage is not None:
            raise self.outage
        clashing = self.refuse & set(items)
        if clashing:
            raise StoreConflict(f"{sorted(clashing)} taken")

    async def publish(self, item: str) -> None:
        self.committed.append(item)

    async def until_called(self, times: int = 1) -> None:
        async with self._called:
            await self._called.wait_for(lambda: len(self.calls) >= times)


def writer(recorder: Recorder, **options: object) -> GroupCommit[str]:
    return GroupCommit(recorder.write, recorder.publish, max_batch=100, **options)  # type: ignore[arg-type]


async def submit_all(commit: GroupCommit[str], items: Sequence[str]) -> list[BaseException | None]:
    results = await asyncio.gather(*(commit.submit(i) for i in items), return_exceptions=True)
    return list(results)


async def test_items_submitted_together_are_written_in_one_call_and_published_in_order() -> None:
    recorder = Recorder()
    results = await submit_all(writer(recorder), [f"e{i}" for i in range(10)])
    assert results == [None] * 10
    assert recorder.calls == [[f"e{i}" for i in range(10)]]
    assert recorder.committed == [f"e{i}" for i in range(10)]


async def test_one_item_alone_is_written_at_once() -> None:
    recorder = Recorder()
    await writer(recorder).submit("only")
    assert recorder.calls == [["only"]]


async def test_items_arriving_during_a_write_go_together_in_the_next() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit = writer(recorder)
    first = asyncio.ensure_future(commit.submit("first"))
    await recorder.until_called()
    later = [asyncio.ensure_future(commit.submit(f"later{i}")) for i in range(5)]
    await asyncio.sleep(0)
    recorder.gate.set()
    await asyncio.gather(first, *later)
    assert recorder.calls == [["first"], [f"later{i}" for i in range(5)]]


async def test_a_batch_is_capped() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.write, recorder.publish, max_batch=4)
    await submit_all(commit, [f"e{i}" for i in range(10)])
    assert [len(call) for call in recorder.calls] == [4, 4, 2]


async def test_a_clash_fails_only_its_own_request() -> None:
    recorder = Recorder(refuse=["bad"])
    results = await submit_all(writer(recorder), ["a", "bad", "b"])
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], StoreConflict)
    # the batch, then each item alone
    assert recorder.calls == [["a", "bad", "b"], ["a"], ["bad"], ["b"]]
    assert recorder.committed == ["a", "b"]


async def test_any_error_of_a_batch_is_narrowed_down_to_its_item() -> None:
    async def write(items: Sequence[str]) -> None:
        if "broken" in items:
            raise ValueError("a value the database refuses")

    committed: list[str] = []

    async def publish(item: str) -> None:
        committed.append(item)

    commit = GroupCommit(write, publish, max_batch=100)
    results = await submit_all(commit, ["a", "broken", "b"])
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], ValueError)
    assert committed == ["a", "b"]


async def test_an_unreachable_database_fails_every_waiter_with_its_own_503() -> None:
    recorder = Recorder()
    recorder.outage = StoreUnavailable("the database is unavailable: OSError")
    results = await submit_all(writer(recorder), ["a", "b", "c"])
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert len({id(r) for r in results}) == 3  # each request raises its own copy
    assert {r.message for r in results if isinstance(r, StoreUnavailable)} == {
        "the database is unavailable: OSError"
    }
    assert recorder.calls == [["a", "b", "c"]]  # not retried one by one
    assert recorder.committed == []


async def test_a_busy_database_is_retried_one_by_one() -> None:
    calls: list[list[str]] = []

    async def write(items: Sequence[str]) -> None:
        calls.append(list(items))
        if len(items) > 1:
            raise StoreBusy("deadlock detected; retry")

    async def publish(item: str) -> None:
        pass

    results = await submit_all(GroupCommit(write, publish, max_batch=100), ["a", "b"])
    assert results == [None, None]
    assert calls == [["a", "b"], ["a"], ["b"]]


async def test_a_failing_listener_does_not_unsay_a_write() -> None:
    async def write(items: Sequence[str]) -> None:
        pass

    async def publish(item: str) -> None:
        raise RuntimeError("a listener broke")

    assert await submit_all(GroupCommit(write, publish, max_batch=10), ["a", "b"]) == [None, None]


async def test_a_request_cancelled_before_its_write_is_not_written() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit = writer(recorder)
    first = asyncio.ensure_future(commit.submit("first"))
    await recorder.until_called()
    gone = asyncio.ensure_future(commit.submit("gone"))
    kept = asyncio.ensure_future(commit.submit("kept"))
    await asyncio.sleep(0)
    gone.cancel()
    recorder.gate.set()
    await asyncio.gather(first, kept)
    assert recorder.calls == [["first"], ["kept"]]


async def test_several_writers_write_side_by_side() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit = writer(recorder, writers=2, gather=False)
    tasks = [asyncio.ensure_future(commit.submit("a"))]
    await recorder.until_called()
    tasks.append(asyncio.ensure_future(commit.submit("b")))
    await recorder.until_called(2)
    tasks += [asyncio.ensure_future(commit.submit(i)) for i in ("c", "d")]
    await asyncio.sleep(0)
    assert recorder.calls == [["a"], ["b"]]  # two under way; c and d wait for one
    recorder.gate.set()
    await asyncio.gather(*tasks)
    assert recorder.calls == [["a"], ["b"], ["c", "d"]]


async def test_close_writes_what_was_queued_then_refuses() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit = writer(recorder)
    tasks = [asyncio.ensure_future(commit.submit(f"e{i}")) for i in range(3)]
    await recorder.until_called()
    tasks.append(asyncio.ensure_future(commit.submit("queued")))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(commit.close())
    await asyncio.sleep(0)
    assert not closing.done()
    recorder.gate.set()
    await closing
    assert all(task.done() and task.exception() is None for task in tasks)
    assert recorder.committed == ["e0", "e1", "e2", "queued"]
    with pytest.raises(StoreUnavailable, match="stopping"):
        await commit.submit("late")


async def test_a_cancelled_writer_leaves_nobody_waiting() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()  # never opened
    commit = writer(recorder)
    tasks = [asyncio.ensure_future(commit.submit(f"e{i}")) for i in range(3)]
    await recorder.until_called()
    tasks.append(asyncio.ensure_future(commit.submit("queued")))
    await asyncio.sleep(0)
    for task in list(commit._running):  # the loop closing cancels every task
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)
    with contextlib.suppress(asyncio.CancelledError):
        await commit.close()
