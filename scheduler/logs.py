"""Logging setup: readable text by default, JSON lines for log collectors.

Log records carry context in ``extra`` (``action``, ``event_id``,
``delivery_id``...); the JSON formatter writes those fields out, the text one
appends them. Secrets are never passed to a logger in the first place; as a
last line of defence both formatters also scrub what other libraries put in
messages and tracebacks (a PostgreSQL error quoting a whole failing row, a
driver error quoting a URL): signing secrets, bearer tokens, URL credentials
and query strings never leave the process.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from scheduler.config import Settings

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


def redact_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: what a log line may say of it.

    Webhook URLs often carry credentials (Slack and Discord URLs are secret as a
    whole; others put tokens in the query string), so a log line keeps only
    where the request went, never user info, query or fragment; the path is
    cut short because some services put their secret there too.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    if ":" in host:
        host = f"[{host}]"
    path = parts.path if len(parts.path) <= 24 else parts.path[:24] + "..."
    return f"{parts.scheme}://{host}{port}{path}"


#: (pattern, replacement) pairs applied to every formatted line that may need them
_SCRUB = [
    # PostgreSQL's DETAIL for CHECK / NOT NULL violations quotes every column
    (re.compile(r"(Failing row contains ).*"), r"\1(<hidden>)"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_<hidden>"),
    (re.compile(r"(?i)(bearer\s+)[^\s'\",;]+"), r"\1<hidden>"),
    (re.compile(r"(://[^\s?#'\"<>]*)[?#][^\s'\"<>),]*"), r"\1?<hidden>"),
    (re.compile(r"(://)[^/\s@'\"<>]*@"), r"\1<hidden>@"),  # user:password@
]
_MARKERS = ("failing row", "whsec_", "bearer")  # looked for in the lower-cased line


def scrub(line: str) -> str:
    """``line`` without secrets that libraries put into messages and tracebacks."""
    # most lines (a delivery line's redacted URL too) have none: skip the regexes
    url_extra = "://" in line and ("?" in line or "#" in line or "@" in line)
    lowered = line.lower()
    if url_extra or any(marker in lowered for marker in _MARKERS):
        for pattern, replacement in _SCRUB:
            line = pattern.sub(replacement, line)
    return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
            **{k: scrub(v) if isinstance(v, str) else v for k, v in _extras(record).items()},
        }
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record) if not record.name.startswith("aiohttp") else {}
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return scrub(line)


#: Libraries that log raw data below these levels, with the data they would leak.
#: ``log_level = "DEBUG"`` is for our own modules; these stay at their floor.
QUIET_LIBRARIES = {
    # every statement with its parameters: webhook secrets and URLs
    "aiosqlite": logging.INFO,
    # statements at INFO, result rows at DEBUG (SQLAlchemy defaults to WARNING)
    "sqlalchemy.engine": logging.WARNING,
}


#: Libraries that narrate their routine at INFO (APScheduler: two lines a second
#: for the interval jobs; alembic: the migration context at every start and CLI
#: command). What a person needs is at WARNING; ``log_level = "DEBUG"`` lets
#: them speak again.
CHATTY_LIBRARIES = ("apscheduler", "alembic")


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name, floor in QUIET_LIBRARIES.items():
        library = logging.getLogger(name)
        library.setLevel(max(floor, root.level))
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(
            root.level if root.level <= logging.DEBUG else max(logging.WARNING, root.level)
        )
