"""A browser's walk through the UI's pages, for the tests: from the start pages, every page
linked (runs, steps, artifacts, models, decisions, run reports), each loaded in headless
Chromium (mlops.ui.browser) and checked as a person would see it: its status and heading,
each chart (svg, img, canvas) drawn with a non-zero size, nothing asked of another host, and
no error in the browser's console. Files and logs the pages link are fetched, not walked."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlparse

# Paths answered with a file (a log, an artifact's file): fetched for their status only.
FILE_PATHS = re.compile(r"/files/|/log$|^/api/")
# The charts a page draws: outermost SVGs, images and canvases, outside closed <details>.
CHARTS_JS = """() => Array.from(document.querySelectorAll('svg, img, canvas'))
  .filter(el => !el.parentElement || !el.parentElement.closest('svg'))
  .filter(el => !el.closest('details:not([open])'))
  .map(el => { const r = el.getBoundingClientRect();
               return {tag: el.tagName.toLowerCase(), width: r.width, height: r.height}; })"""
# getAttribute: an <a> inside an SVG has no string href property
# The heading each kind of page opens with (a run's report: any).
HEADINGS = [
    (r"^/$", "Runs"),
    (r"^/runs/[^/]+$", "Run "),
    (r"^/runs/[^/]+/report$", ""),
    (r"^/runs/[^/]+/steps/[^/]+$", "Step "),
    (r"^/artifacts/\d+$", "Artifact "),
    (r"^/models$", "Models"),
    (r"^/models/[^/]+$", "Model "),
    (r"^/decisions$", "Trigger decisions"),
]
LINKS_JS = """() => Array.from(document.querySelectorAll('a[href]'))
  .map(a => new URL(a.getAttribute('href'), document.baseURI).href)"""


@dataclass
class Page:
    path: str
    status: int | None
    heading: str | None
    charts: list[dict] = field(default_factory=list)  # every frame's, the page's first
    links: list[str] = field(default_factory=list)  # same-site paths, as linked


@dataclass
class Walk:
    pages: dict[str, Page] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)  # path -> status
    console_errors: list[str] = field(default_factory=list)
    offsite: list[str] = field(default_factory=list)  # requests to any other host

    def zero_charts(self) -> list[str]:
        return [
            f"{p.path}: {c['tag']} {c['width']}x{c['height']}"
            for p in self.pages.values()
            for c in p.charts
            if not (c["width"] > 0 and c["height"] > 0)
        ]

    def failed(self) -> list[str]:
        pages = [f"{p.path}: {p.status}" for p in self.pages.values() if p.status != 200]
        return pages + [f"{f}: {s}" for f, s in self.files.items() if s != 200]

    def wrong_headings(self) -> list[str]:
        wrong = []
        for p in self.pages.values():
            want = next((h for pattern, h in HEADINGS if re.match(pattern, p.path)), None)
            if want is None or p.heading is None or not p.heading.startswith(want):
                wrong.append(f"{p.path}: heading {p.heading!r}, expected {want!r}...")
        return wrong

    def problems(self) -> list[str]:
        """Everything a person would see wrong: a page or file not answered, a page without
        its heading, an empty chart, a console error, a request to another host."""
        return (
            self.failed()
            + self.wrong_headings()
            + self.zero_charts()
            + [f"console: {e}" for e in self.console_errors]
            + [f"offsite: {o}" for o in self.offsite]
        )


def _local(url: str, base: str) -> str | None:
    """The path (with query) of a same-site URL; None for another site or a fragment."""
    parsed, home = urlparse(url), urlparse(base)
    if parsed.scheme not in ("http", "https") or parsed.netloc != home.netloc:
        return None
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


def walk(browser, base: str, start: list[str], limit: int = 600, files_per_page: int = 2) -> Walk:
    """Loads `start` and every same-site page they lead to (at most `limit`), each once."""
    result = Walk()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    home = urlparse(base).netloc

    def on_console(message) -> None:
        if message.type == "error":
            result.console_errors.append(f"{page.url}: {message.text}")

    def on_request(request) -> None:
        parsed = urlparse(request.url)
        if parsed.scheme in ("http", "https", "ws", "wss") and parsed.netloc != home:
            result.offsite.append(f"{page.url} -> {request.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: result.console_errors.append(f"{page.url}: {error}"))
    page.on("request", on_request)
    queue, seen = deque(start), set(start)
    try:
        while queue and len(result.pages) < limit:
            path = queue.popleft()
            answer = page.goto(urljoin(base, path), wait_until="load")
            heading = page.locator("h1").first
            found = Page(
                path,
                answer.status if answer else None,
                heading.inner_text().strip() if heading.count() else None,
            )
            for frame in page.frames:  # the page, then the reports it embeds
                found.charts += frame.evaluate(CHARTS_JS)
            for url in page.evaluate(LINKS_JS):
                linked = _local(url.split("#", 1)[0], base)
                if linked is not None:
                    found.links.append(linked)
            result.pages[path] = found
            fetched = 0
            for linked in found.links:
                if linked in seen:
                    continue
                if FILE_PATHS.search(urlparse(linked).path):
                    if fetched < files_per_page:
                        seen.add(linked)
                        fetched += 1
                        result.files[linked] = context.request.get(urljoin(base, linked)).status
                    continue
                seen.add(linked)
                queue.append(linked)
    finally:
        context.close()
    return result
