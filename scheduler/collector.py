"""When Python's cyclic garbage collector may run.

A full collection walks every object the collector tracks: with 10,000 open
status streams that stops the process for ~0.4 s. Where it falls is luck
(allocations count towards it), and the worst place is a broadcast: one change
fans out to every stream and allocates as it goes, which is what tips the count
over, so every viewer got the change 0.4 s late (``python -m bench sse``: first
stream 360-520 ms after the change, all of them in 1.3-1.7 s; with collections
held, 40-60 ms and 1.0-1.3 s).

:func:`hold_for_broadcast` keeps automatic collections off while a large
broadcast is written, for at most ``HOLD_SECONDS``; memory freed by reference
counting (nearly all of it) is freed as usual meanwhile, and the collector runs
again as soon as the hold ends.
"""

from __future__ import annotations

import asyncio
import gc

#: longest hold: writing one change to 10,000 streams takes about a second
HOLD_SECONDS = 2.0
#: streams that make a broadcast large enough to hold collections for
LARGE_BROADCAST = 1000

_holding = False


def hold_for_broadcast() -> None:
    """Hold automatic collections for ``HOLD_SECONDS`` (not extended by later
    calls, so a stream of broadcasts cannot keep the collector off)."""
    global _holding
    if _holding or not gc.isenabled():
        return  # already held, or switched off by someone who will switch it on
    gc.disable()
    _holding = True
    asyncio.get_running_loop().call_later(HOLD_SECONDS, _release)


def _release() -> None:
    global _holding
    _holding = False
    gc.enable()
