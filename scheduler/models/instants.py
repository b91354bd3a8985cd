"""How instants look in API responses, once for every model.

A UTC instant is written ``2018-05-22T16:15:00Z`` (milliseconds only when it
has them) and a wall time with its offset ``2018-05-22T18:15:00+02:00``; both
are documented as ``format: date-time`` so generated clients read them as
datetimes. The models hold ``datetime`` values; these types say how pydantic's
JSON serialiser writes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema

from scheduler.timezones import isoformat_utc


def _wall_time(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


#: an aware instant, written in UTC with ``Z``
UtcInstant = Annotated[
    datetime,
    PlainSerializer(isoformat_utc, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2018-05-22T16:15:00Z"]}),
]
#: an aware datetime in an event's own zone, written as wall time with its offset
WallTime = Annotated[
    datetime,
    PlainSerializer(_wall_time, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2018-05-22T18:15:00+02:00"]}
    ),
]
