"""New events written in bulk: the rows of many creates in as few statements as
the backend allows (``services.creations`` gathers them).

What a small write costs is its statements, not its rows: on SQLite each is a
few round trips through aiosqlite's thread, on PostgreSQL a round trip to the
server, and while it is under way the event loop's other work delays the
answer. So:

- SQLite: one transaction with one multi-row INSERT (``executemany``) per
  table: the idempotency records (after deleting expired ones with the same
  keys), the events, their triggers, the ``change_log`` notices; run whole on
  a thread of its own (``Database.write_in_thread``), one hop where aiosqlite
  takes about fifteen.
- PostgreSQL: one statement. Data-modifying CTEs insert the events, their
  triggers and the idempotency records from arrays (``unnest``, so the
  statement's shape and plan do not depend on the batch size), and its result
  is the ``pg_notify`` of the notices. A single statement is atomic, so it
  runs outside an explicit transaction: one round trip where a transaction
  of three INSERTs takes five. A batch with idempotency keys first deletes
  the expired records with those keys, in a transaction with the statement.

Either way a clash (an idempotency key already taken) fails the whole batch
with :class:`~scheduler.exceptions.StoreConflict` and nothing of it is stored.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    String,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    delete,
    insert,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import BindParameter, TextClause
from sqlalchemy.types import TypeEngine

from scheduler.models import Event, IdempotencyRecord, Trigger
from scheduler.models.changes import ChangeKind, ChangeRecord
from scheduler.store import changes as change_store
from scheduler.store.database import Database

EVENTS: Table = Event.__table__  # type: ignore[attr-defined]
TRIGGERS: Table = Trigger.__table__  # type: ignore[attr-defined]
KEYS: Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
CHANGE_LOG: Table = ChangeRecord.__table__  # type: ignore[attr-defined]
#: what a planned trigger sets; the claim and outcome columns start empty
TRIGGER_COLUMNS = (
    "id",
    "event_id",
    "type",
    "minutes_before",
    "due_at",
    "state",
    "generation",
    "claim_attempt",
)
KEY_COLUMNS = ("key", "scope", "fingerprint", "resource_id", "created_at")

Remembered = tuple[IdempotencyRecord, datetime]  # a record, and "expired before"


async def write(
    db: Database,
    events: Sequence[Event],
    triggers: Sequence[Trigger],
    remembered: Sequence[Remembered],
    *,
    origin: str,
) -> None:
    """Store new events (rows with every column, ``rows.built``), their planned
    triggers and idempotency records, and the ``created`` notices for other
    processes, all or nothing."""
    notices = [(ChangeKind.CREATED.value, event.id) for event in events]
    if db.dialect != "postgresql":
        log = change_store.log_rows(origin, notices)
        await db.write_in_thread(partial(_write_rows, events, triggers, remembered, log))
        return
    params = {
        **_arrays("e", EVENTS, _columns(EVENTS), events),
        **_arrays("t", TRIGGERS, TRIGGER_COLUMNS, triggers),
        "channel": change_store.CHANNEL,
        "payloads": change_store.payloads(origin, notices),
    }
    if remembered:
        params.update(_arrays("k", KEYS, KEY_COLUMNS, [r for r, _ in remembered]))
    async with db.transaction(autocommit=not remembered) as transaction:
        if remembered:
            await transaction.execute(FORGET_EXPIRED, _expired(remembered))
        await transaction.execute(_statement(bool(remembered)), params)


#: expired records with the keys about to be remembered go first (a live one
#: stays, and the insert then clashes with it)
FORGET_EXPIRED = delete(KEYS).where(
    KEYS.c.key == bindparam("k"),
    KEYS.c.scope == bindparam("s"),
    KEYS.c.created_at <= bindparam("e"),
)


def _expired(remembered: Sequence[Remembered]) -> list[dict[str, object]]:
    return [{"k": r.key, "s": r.scope, "e": expired} for r, expired in remembered]


def _write_rows(
    events: Sequence[Event],
    triggers: Sequence[Trigger],
    remembered: Sequence[Remembered],
    log: list[dict[str, object]],
    connection: Connection,
) -> None:
    """SQLite: the batch in one transaction, one multi-row INSERT per table."""
    if remembered:
        connection.execute(FORGET_EXPIRED, _expired(remembered))
    for table, columns, rows in (
        (KEYS, KEY_COLUMNS, [r for r, _ in remembered]),
        (EVENTS, _columns(EVENTS), events),
        (TRIGGERS, TRIGGER_COLUMNS, triggers),
    ):
        if rows:
            connection.execute(insert(table), [{n: vars(row)[n] for n in columns} for row in rows])
    connection.execute(insert(CHANGE_LOG), log)


def _columns(table: Table) -> tuple[str, ...]:
    return tuple(column.key for column in table.columns)


def _arrays(
    prefix: str, table: Table, columns: Sequence[str], rows: Sequence[object]
) -> dict[str, list[object]]:
    """The rows as one array per column, for ``unnest``."""
    arrays: dict[str, list[object]] = {}
    for name in columns:
        values = [vars(row)[name] for row in rows]
        if _is_json(table.c[name]):
            values = [None if v is None else json.dumps(v) for v in values]
        arrays[f"{prefix}_{name}"] = values
    return arrays


def _is_json(column: Column[Any]) -> bool:
    kind = column.type
    return isinstance(kind.impl if isinstance(kind, TypeDecorator) else kind, JSON)


def _element_type(column: Column[Any]) -> TypeEngine[Any]:
    """The array element type for ``column``: text for strings (a cast to
    ``varchar(n)`` would cut a long value short, where the insert into the
    column refuses it as any other write does) and for JSON (each element
    serialised here, as the JSON type serialises it: an array of JSON arrays
    would read as a second dimension), else the column's own type, so values
    are converted as any write converts them (UTC instants)."""
    kind = column.type
    impl = kind.impl if isinstance(kind, TypeDecorator) else kind
    return Text() if isinstance(impl, String | JSON) else kind


def _from_arrays(
    prefix: str, table: Table, columns: Sequence[str]
) -> tuple[str, list[BindParameter[Any]]]:
    """``INSERT INTO table (columns) SELECT * FROM unnest(...)`` and its parameters."""
    params = [
        bindparam(f"{prefix}_{n}", type_=postgresql.ARRAY(_element_type(table.c[n])))
        for n in columns
    ]
    # the driver casts each parameter to its array type ($1::TEXT[]), so unnest's
    # columns are typed; the INSERT then assigns them to the table's columns
    arrays = ", ".join(
        f"CAST(:{p.key} AS JSON[])" if _is_json(table.c[n]) else f":{p.key}"
        for n, p in zip(columns, params, strict=True)
    )
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
    return sql, params


@functools.cache
def _statement(with_keys: bool) -> TextClause:
    """The PostgreSQL statement that writes a batch (built once from the tables)."""
    parts = [
        ("new_events", _from_arrays("e", EVENTS, _columns(EVENTS))),
        ("new_triggers", _from_arrays("t", TRIGGERS, TRIGGER_COLUMNS)),
    ]
    if with_keys:
        parts.append(("new_keys", _from_arrays("k", KEYS, KEY_COLUMNS)))
    ctes = ",\n".join(f"{name} AS ({sql})" for name, (sql, _) in parts)
    notify = "SELECT pg_notify(:channel, payload) FROM unnest(:payloads) AS payload"
    params = [p for _, (_, ps) in parts for p in ps]
    params.append(bindparam("payloads", type_=postgresql.ARRAY(Text())))
    return text(f"WITH {ctes}\n{notify}").bindparams(*params)
