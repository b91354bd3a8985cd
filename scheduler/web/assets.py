"""The pages' static files, served from memory under names that change with their bytes.

``pages.css`` is served as ``/static/pages.<hash>.css``: a browser may keep it
for a year (``immutable``), and a new release, having new bytes, has a new
name. The files are read once, from the installed package.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

#: the static files, by the name the templates use
FILES = ("pages.css", "pages.js", "stream.svg")
#: their media types, by extension (not the host's mime.types: the same everywhere)
TYPES = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml"}
PREFIX = "/static/"


@dataclass(frozen=True)
class Asset:
    name: str  # pages.css
    served_as: str  # pages.3f2a1b9c04.css
    body: bytes
    content_type: str

    @property
    def path(self) -> str:
        return PREFIX + self.served_as


class Assets:
    """Every static file, by its plain name and by the name it is served under."""

    def __init__(self) -> None:
        folder = resources.files("scheduler.web").joinpath("static")
        self.by_name: dict[str, Asset] = {}
        self.served: dict[str, Asset] = {}
        for name in FILES:
            body = folder.joinpath(name).read_bytes()
            stem, _, ext = name.rpartition(".")
            digest = hashlib.sha256(body).hexdigest()[:10]
            asset = Asset(name, f"{stem}.{digest}.{ext}", body, TYPES[ext])
            self.by_name[name] = asset
            self.served[asset.served_as] = asset

    def url(self, name: str) -> str:
        """The path a page links to (raises KeyError for a file that is not shipped)."""
        return self.by_name[name].path
