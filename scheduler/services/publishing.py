"""What every writing service shares: recording its changes for other processes
in the change's own transaction, and telling this process's listeners (the change
bus, wired by ``services.routing``) once it is committed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from scheduler.models.changes import Change, ChangeKind
from scheduler.store import changes as change_store
from scheduler.store.database import Session

logger = logging.getLogger(__name__)

Listener = Callable[[Change], Awaitable[None]]


class ChangePublisher:
    def __init__(self, origin: str) -> None:
        #: who made the changes, for other processes (they skip their own)
        self.origin = origin
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` after every committed change."""
        self._listeners.append(listener)

    async def record(self, session: Session, kind: ChangeKind, ref_id: str) -> None:
        """Tell other processes, in the change's own transaction (the CLI too)."""
        await change_store.record(session, self.origin, [(kind, ref_id)])

    async def record_many(self, session: Session, notices: list[tuple[ChangeKind, str]]) -> None:
        """:meth:`record` for many changes of one transaction (a series' occurrences)."""
        await change_store.record(session, self.origin, notices)

    async def publish(self, change: Change) -> None:
        """Tell this process's listeners of a committed change; one that fails does
        not undo it nor keep the others from hearing it."""
        for listener in self._listeners:
            try:
                await listener(change)
            except Exception:
                logger.exception(
                    "change listener failed", extra={"action": "notify", "ref_id": change.ref_id}
                )
