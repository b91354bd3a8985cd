"""A page read the way a browser's parser reads it (the standard library's), for tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())

    def has_class(self, name: str) -> bool:
        return name in self.attrs.get("class", "").split()


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i].tag == tag:
                del self.open[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element.parts.append(data)


class Page:
    def __init__(self, html: str) -> None:
        reader = _Reader()
        reader.feed(html)
        reader.close()
        self.html = html
        self.elements = reader.elements

    def all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        found = []
        for element in self.elements:
            if tag is not None and element.tag != tag:
                continue
            wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
            if "class" in wanted and not element.has_class(wanted.pop("class")):
                continue
            if all(element.attrs.get(k) == v for k, v in wanted.items()):
                found.append(element)
        return found

    def one(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}> on the page"
        return found[0]

    def meta(self, name: str) -> str:
        for element in self.all("meta"):
            if name in (element.attrs.get("property"), element.attrs.get("name")):
                return element.attrs["content"]
        raise AssertionError(f"no <meta> {name}")

    def json_ld(self) -> Any:
        blocks = self.all("script", type="application/ld+json")
        assert len(blocks) == 1
        return json.loads("".join(blocks[0].parts))

    def items(self) -> list[Element]:
        """The events listed, in page order."""
        return [e for e in self.elements if "data-event-id" in e.attrs]
