"""Entity tags: a version of a stored row, for ``ETag`` and ``If-Match``.

Two clients that read an event, then both change it, must not silently
overwrite each other. Every event and webhook subscription carries an entity
tag derived from everything stored in its row (secrets excepted), so the tag
changes exactly when the row does; a write sent with ``If-Match`` goes ahead
only while the row still has that tag (RFC 9110 §13.1.1, strong comparison),
checked inside the write's own transaction: on PostgreSQL under the row's lock;
on SQLite one transaction at a time in the serving process (a write from
another process, such as the CLI, landing between the check and the write is
not detected there). Without ``If-Match`` a write goes ahead as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from sqlmodel import SQLModel

from scheduler.exceptions import PreconditionFailed

#: Columns never folded into a tag (a tag is public; these are not).
SECRET_COLUMNS = frozenset({"secret", "previous_secret"})
#: Columns the service moves on its own, not a version a writer read: a series'
#: horizon moves hourly, and an If-Match read before that must still hold.
HOUSEKEEPING_COLUMNS = frozenset({"materialized_until"})


def entity_tag(row: SQLModel) -> str:
    """The strong entity tag (with its quotes) of ``row`` as stored."""
    # every declared column, read one by one: model_dump() leaves out columns a
    # new row never set, so a just-created row would hash differently when read back
    values = {
        name: getattr(row, name, None)
        for name in type(row).model_fields
        if name not in SECRET_COLUMNS and name not in HOUSEKEEPING_COLUMNS
    }
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode())
    return f'"{digest.hexdigest()[:32]}"'


def _tags(header: str) -> Iterable[str]:
    return (part.strip() for part in header.split(","))


def check_if_match(if_match: str | None, row: SQLModel, *, what: str) -> None:
    """Raise :class:`PreconditionFailed` unless ``if_match`` allows changing ``row``.

    ``None`` (no header) allows it; ``*`` allows any existing row; otherwise
    one of the listed strong tags must be the row's current tag (weak tags,
    ``W/"..."``, never match a write precondition).
    """
    if if_match is None:
        return
    current = entity_tag(row)
    if any(tag == "*" or tag == current for tag in _tags(if_match)):
        return
    raise PreconditionFailed(
        f"the {what} has changed since you read it (its ETag is now {current}); "
        "GET it again, reapply your change and send the new ETag in If-Match"
    )
