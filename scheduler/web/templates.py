"""The Jinja2 environment of the pages: where templates live and how they escape.

``scheduler.http.app`` hands :func:`environment_options` to
``aiohttp_jinja2.setup``; the services render through that environment.
Autoescape is on for every template, undefined names are errors (a typo must
fail a test, not print nothing), and the filters are the safe ones of
``scheduler.web.text``.
"""

from __future__ import annotations

from typing import Any

import jinja2

from scheduler.web.structured import script_json
from scheduler.web.text import linkify, safe_url


def environment_options() -> dict[str, Any]:
    return {
        "loader": jinja2.PackageLoader("scheduler.web", "templates"),
        "autoescape": True,
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "filters": {"linkify": linkify, "safe_url": safe_url, "script_json": script_json},
    }


def standalone() -> jinja2.Environment:
    """The same environment without aiohttp (the CLI, tests, benchmarks)."""
    options = environment_options()
    filters = options.pop("filters")
    env = jinja2.Environment(**options)
    env.filters.update(filters)
    return env
