"""The text of chosen elements of an HTML report, for tests that check a report by its values
(the verdict, a feature's distance, a table row) rather than by words every report holds."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class _Collector(HTMLParser):
    def __init__(self, tag: str, classes: set[str], attrs: dict[str, str]):
        super().__init__(convert_charrefs=True)
        self.tag, self.classes, self.attrs = tag, classes, attrs
        self.open: list[tuple[int, list[str]]] = []  # (depth where it opened, its text parts)
        self.depth = 0
        self.found: list[str] = []

    def _matches(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        given = {k: v or "" for k, v in attrs}
        if tag != self.tag or not self.classes <= set(given.get("class", "").split()):
            return False
        return all(given.get(k) == v for k, v in self.attrs.items())

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:
            return
        self.depth += 1
        if self._matches(tag, attrs):
            self.open.append((self.depth, []))

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        if self.open and self.open[-1][0] == self.depth:
            _, parts = self.open.pop()
            self.found.append(re.sub(r"\s+", " ", "".join(parts)).strip())
        self.depth -= 1

    def handle_data(self, data):
        for _, parts in self.open:
            parts.append(data)


def texts(html: str, tag: str, cls: str = "", **attrs: str) -> list[str]:
    """The text (entities decoded, whitespace collapsed) of every `tag` element having all of
    the space-separated classes `cls` and the attribute values `attrs` (data_feature= is
    data-feature=), in document order."""
    wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
    parser = _Collector(tag, set(cls.split()), wanted)
    parser.feed(html)
    parser.close()
    return parser.found


def text(html: str, tag: str, cls: str = "", **attrs: str) -> str:
    """The text of the one element texts() finds; an AssertionError when not exactly one."""
    found = texts(html, tag, cls, **attrs)
    assert len(found) == 1, f"{len(found)} <{tag} class={cls!r} {attrs}> elements: {found}"
    return found[0]


def table_rows(html: str) -> list[list[str]]:
    """Every table row as the texts of its cells (th and td, in order), in document order."""
    rows = []
    for row in re.findall(r"<tr\b.*?</tr>", html, re.S):
        cells = re.findall(r"<(t[hd])\b[^>]*>(.*?)</\1>", row, re.S)
        rows.append([_plain(body) for _, body in cells])
    return rows


def _plain(fragment: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]*>", "", fragment))).strip()
