"""Hypothesis strategies for everything a client can send: bodies, query strings, headers.

Bodies start from the request schemas the API document publishes
(``/api/openapi.json``; read through :func:`from_schema`, a small reader of the
JSON-Schema subset pydantic emits for our models), then one field is swapped
for something hostile: deep nesting, huge numbers, unicode digits, control and
bidi characters, extreme dates, bad offsets, wrong types. Some bodies are
mangled as raw bytes (repeated keys, truncation, invalid UTF-8), which no
Python value can express.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from scheduler.http.openapi import document

SCHEMAS: dict[str, Any] = document()["components"]["schemas"]

# A few zones with interesting rules: DST both ways, 30-minute DST, negative DST,
# offsets at the extremes, no DST at all.
ZONES = [
    "Europe/Brussels",
    "America/New_York",
    "Australia/Lord_Howe",
    "Africa/Casablanca",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Asia/Kathmandu",
    "UTC",
    "America/Los_Angeles",
    "Antarctica/Troll",
]

HOSTILE_STRINGS = [
    "",
    " ",
    "\u0000",
    "\u00b2",
    "\u0663",
    "\u202e",
    "\u2066x",
    "\r",
    "\n",
    "\u0085",
    "\ud800",
    "9" * 300,
    "x" * 20000,
    "0001-01-01T00:00",
    "9999-12-31T23:59",
    "9999-12-31T23:59:59.999999+23:59",
    "0001-01-01T00:00:00-23:59",
    "2199-12-31T23:59+14:00",
    "1900-01-01T00:00-12:00",
    "2019-03-31T02:30",
    "2019-10-27T02:30",
    "2018-05-22T18:15+24:00",
    "2018-05-22T18:15+23:59",
    "2018-05-22T18:15Z",
    "2018-02-30T10:00",
    "http://[::1/",
    "http://[zz]/",
    "http://user:pw@127.0.0.1/",
    "javascript:alert(1)",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "Europe/../../etc",
    "*",
    'W/"x"',
]

naive_datetimes = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
offsets = st.one_of(
    st.none(),
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    ),
)


@st.composite
def wall_times(draw: st.DrawFn) -> str:
    """A wall time, sometimes with an offset, from year 1 to 9999."""
    wall = draw(naive_datetimes).replace(second=0, microsecond=0)
    offset = draw(offsets)
    if offset is None:
        return wall.isoformat(timespec="minutes")
    offset = timedelta(minutes=int(offset.total_seconds() // 60))
    return wall.replace(tzinfo=timezone(offset)).isoformat(timespec="minutes")


@st.composite
def instants(draw: st.DrawFn) -> str:
    """An instant as a query string might carry it, plausible or not."""
    return draw(st.one_of(wall_times(), st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40)))


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


hostile_values: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=60),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(min_value=-(10**30), max_value=10**30), max_size=12),
    st.lists(st.booleans(), max_size=3),
    st.integers(min_value=20, max_value=200).map(nested),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    wall_times(),
)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that fit ``schema`` (the subset pydantic writes for our request models)."""
    if "$ref" in schema:
        return st.deferred(lambda: from_schema(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]))
    if "anyOf" in schema:
        return st.one_of([from_schema(s) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "object":
        required = set(schema.get("required", []))
        props = schema.get("properties", {})
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in props.items() if k in required},
            optional={k: from_schema(v) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=schema.get("maxItems", 5))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "string":
        examples = schema.get("examples", [])
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        text = st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 80))
        return st.one_of(text, st.sampled_from(examples)) if examples else text
    return st.just(None)


@st.composite
def bodies(draw: st.DrawFn, model: str, base: dict[str, Any] | None = None) -> bytes:
    """A request body for ``model``: from its schema (or ``base``), then made hostile."""
    schema = SCHEMAS[model]
    body: dict[str, Any] = dict(base) if base is not None else draw(from_schema(schema))
    if base is not None:
        body.update(
            draw(
                st.dictionaries(
                    st.sampled_from(list(schema["properties"])), hostile_values, max_size=1
                )
            )
        )
    mutation = draw(st.sampled_from(["none", "field", "extra", "raw"]))
    fields = list(schema["properties"])
    if mutation == "field":
        body[draw(st.sampled_from(fields))] = draw(hostile_values)
    elif mutation == "extra":
        body[draw(st.text(max_size=12))] = draw(hostile_values)
    raw = json.dumps(body, allow_nan=True).encode()
    if mutation == "raw":
        raw = draw(
            st.sampled_from(
                [
                    raw[: len(raw) // 2],
                    raw[:-1] + b', "title": "again"}' if raw.endswith(b"}") else raw,
                    raw.replace(b'"', b"'", 2),
                    b"\xff" + raw,
                    b"[" * 5000,
                    b'{"a":' + b"9" * 5000 + b"}",
                    b"",
                    b"null",
                    b"[]",
                ]
            )
        )
    return raw


content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
        "text/jsonp",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
    ]
)

header_text = st.one_of(
    st.sampled_from(
        [h for h in HOSTILE_STRINGS if h.isprintable() and h.isascii() and len(h) < 400]
    ),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300),
)


def event_body(now: datetime) -> dict[str, Any]:
    """A valid event a little after ``now`` in Brussels, to build hostile variants on."""
    start = (now + timedelta(days=3)).astimezone(UTC).replace(tzinfo=None, second=0, microsecond=0)
    return {
        "title": "Plenary",
        "timezone": "Europe/Brussels",
        "start": start.isoformat(timespec="minutes"),
        "end": (start + timedelta(hours=1)).isoformat(timespec="minutes"),
    }
