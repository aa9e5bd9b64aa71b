"""report.html read back as a person reads it: headings, tables, figures and captions (parsed, not grepped)."""

from __future__ import annotations

import html.parser
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Figure:
    alt: str
    css: str
    caption: str = ""


@dataclass
class ReportPage(html.parser.HTMLParser):
    """Headings (h1-h3), tables (rows of cell texts, with each cell's inner HTML), images, figures,
    divs (id, class), script and stylesheet sources, and link targets of one page."""

    headings: list[str] = field(default_factory=list)
    tables: list[list[list[str]]] = field(default_factory=list)
    cells_html: list[list[list[str]]] = field(default_factory=list)
    images: list[Figure] = field(default_factory=list)
    divs: list[tuple[str, str]] = field(default_factory=list)
    script_sources: list[str] = field(default_factory=list)
    scripts: int = 0
    links: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    text: str = ""

    def __post_init__(self):
        super().__init__()
        self._heading = None
        self._cell = None
        self._caption = None
        self._in_script = False
        self._figure_image = None  # the image of the <figure> being read, if it has one

    @classmethod
    def read(cls, path: Path) -> "ReportPage":
        page = cls()
        page.feed(Path(path).read_text(encoding="utf-8"))
        return page

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._heading = ""
        elif tag == "table":
            self.tables.append([])
            self.cells_html.append([])
        elif tag == "tr":
            self.tables[-1].append([])
            self.cells_html[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ["", ""]
        elif tag == "figure":
            self._figure_image = -1
        elif tag == "img":
            self.images.append(Figure(a.get("alt", ""), a.get("class", "")))
            if self._figure_image == -1:
                self._figure_image = len(self.images) - 1
            assert a.get("src", "").startswith("data:image/png;base64,"), "images are embedded"
        elif tag == "figcaption":
            self._caption = ""
        elif tag == "div":
            self.divs.append((a.get("id") or "", a.get("class") or ""))
        elif tag == "script":
            self.scripts += 1
            self._in_script = True
            if a.get("src"):
                self.script_sources.append(a["src"])
        elif tag == "link" and a.get("href"):
            self.script_sources.append(a["href"])
        elif tag == "a":
            self.links.append(a.get("href"))
        if self._cell is not None and tag not in ("td", "th"):
            self._cell[1] += self.get_starttag_text() or ""

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(self._cell[0].strip())
            self.cells_html[-1][-1].append(self._cell[1])
            self._cell = None
        elif tag == "figcaption" and self._caption is not None:
            if self._figure_image not in (None, -1):
                self.images[self._figure_image].caption = self._caption.strip()
            self.captions.append(self._caption.strip())
            self._caption = None
        elif tag == "figure":
            self._figure_image = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            return
        self.text += data
        if self._heading is not None:
            self._heading += data
        if self._cell is not None:
            self._cell[0] += data
            self._cell[1] += data
        if self._caption is not None:
            self._caption += data

    def table_after(self, heading: str) -> list[list[str]]:
        """The first table whose header row starts with ``heading`` (e.g. "segment", "library")."""
        for table in self.tables:
            if table and table[0] and table[0][0] == heading:
                return table
        raise AssertionError(f"no table headed {heading!r}; tables start with {[t[0][:1] for t in self.tables if t]}")

    def facts(self, first_row: str) -> dict[str, str]:
        """A two-column table (label, value) found by the label of one of its rows."""
        for table in self.tables:
            rows = {r[0]: r[1] for r in table if len(r) == 2}
            if first_row in rows:
                return rows
        raise AssertionError(f"no two-column table with a row {first_row!r}")

    def figure(self, alt: str) -> Figure:
        found = [f for f in self.images if f.alt == alt]
        assert len(found) == 1, f"{len(found)} images with alt {alt!r}; images: {[f.alt for f in self.images]}"
        return found[0]
