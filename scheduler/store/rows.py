"""Row objects for new rows, built the way a query builds the rows it returns.

A table model's constructor costs 60-100 us a row (SQLModel's validation pass
and SQLAlchemy's instrumented set of each attribute); a create builds four
such rows, and that was a tenth of its time. :func:`built` makes the object as
SQLAlchemy's loader does (``ClassManager.new_instance``, then the values put
in place), in about 5 us. It is for rows the program composed itself from
checked input and writes with a bulk insert (``store.creations``), not
through a session; every column is given, so nothing is left to a default
the constructor would have applied.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from sqlalchemy.orm import configure_mappers
from sqlmodel import SQLModel

M = TypeVar("M", bound=SQLModel)


@functools.cache
def _columns(model: type[SQLModel]) -> frozenset[str]:
    # first called when a row is built: every model is mapped by then, and the
    # loader's set-up (configured mappers) must be in place before new_instance
    configure_mappers()
    return frozenset(column.key for column in model.__table__.columns)  # type: ignore[attr-defined]


def built(model: type[M], values: dict[str, Any]) -> M:
    """A transient ``model`` row holding ``values``, one for every column."""
    columns = _columns(model)
    if values.keys() != columns:
        wrong = sorted(values.keys() ^ columns)
        raise TypeError(f"{model.__name__} row needs exactly its columns; check {wrong}")
    row: M = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    row.__dict__.update(values)
    return row
