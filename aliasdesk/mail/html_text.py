"""Readable plain text from an HTML body, for mail that has no text/plain part.

Tickets store and quote text, so an HTML-only mail still needs a body a person can read:
paragraphs and line breaks become newlines, list items "- ", links "text (url)", and
scripts, styles and the document head disappear. Built on html.parser (stdlib) because
aliasdesk.mail stays free of third-party libraries; it never raises on broken markup.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead",
        "tfoot", "tr", "ul",
    }
)  # fmt: skip
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "pre"})
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "object"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "wbr"})
_WS = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_MANY_BREAKS = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    """Collects text chunks and block breaks (ints: "at least this many newlines").

    Block breaks merge by maximum, so "</div><div>" is one line break, not two, while
    explicit <br> tags add up like the newlines they are.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str | int] = []
        self._skip_depth = 0
        self._pre_depth = 0
        self._links: list[tuple[str, int]] = []  # (href, chunk index where the text began)

    def _newline(self, count: int = 1) -> None:
        self.chunks.append(count)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            if tag not in _VOID:
                self._skip_depth += 1
            return
        if self._skip_depth:
            return
        if tag == "br":
            self.chunks.append("\n")
        elif tag == "li":
            self._newline()
            self.chunks.append("- ")
        elif tag in _PARAGRAPH:
            self._newline(2)
        elif tag in _BLOCK:
            self._newline()
        elif tag in {"td", "th"}:
            self.chunks.append(" ")
        if tag == "pre":
            self._pre_depth += 1
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self._links.append((href.strip(), len(self.chunks)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if self._skip_depth:
            return
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        if tag == "a" and self._links:
            href, start = self._links.pop()
            shown = "".join(c for c in self.chunks[start:] if isinstance(c, str)).strip()
            target = href[7:] if href.lower().startswith("mailto:") else href
            if target and not target.startswith("#") and target != shown:
                self.chunks.append(f" ({target})" if shown else target)
        if tag in _PARAGRAPH:
            self._newline(2)
        elif tag in _BLOCK:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._skip_depth or not data:
            return
        if self._pre_depth:
            self.chunks.append(data.replace("\r\n", "\n"))
        else:
            self.chunks.append(_WS.sub(" ", data))

    def text(self) -> str:
        out: list[str] = []
        pending = 0
        for chunk in self.chunks:
            if isinstance(chunk, int):
                pending = max(pending, chunk)
            elif chunk:
                if pending and chunk.strip():
                    out.append("\n" * pending)
                    pending = 0
                out.append(chunk)
        joined = "".join(out)
        lines = [line.strip() for line in joined.split("\n")]
        return _MANY_BREAKS.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Readable text of ``html``; whatever the markup, returns a string and never raises."""
    if not html:
        return ""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser can trip on pathological markup
        pass
    return parser.text()
