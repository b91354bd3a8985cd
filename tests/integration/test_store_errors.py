"""Driver errors stop at the store boundary: what reaches services is the domain's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduler.exceptions import StoreConflict
from scheduler.models import Delivery
from scheduler.store import deliveries as delivery_store
from scheduler.store.database import Database


async def test_a_row_referring_to_a_deleted_one_is_a_conflict_not_a_driver_error(
    database_url: str,
) -> None:
    """A ping, say, written for a webhook deleted a moment before: 409, not a 500."""
    db = Database(database_url)
    try:
        await db.upgrade()
        now = datetime.now(UTC)
        orphan = Delivery(
            id="msg_orphan",
            subscription_id="sub_deleted_meanwhile",
            type="webhook.ping",
            payload="{}",
            next_attempt_at=now,
            created_at=now,
        )
        with pytest.raises(StoreConflict) as caught:
            async with db.session() as session:
                await delivery_store.add(session, orphan)
        assert caught.value.code == "conflict"
        assert "retry" in caught.value.message
    finally:
        await db.dispose()
