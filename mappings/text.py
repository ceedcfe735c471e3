"""HTML in free text (ArcGIS Hub and Socrata descriptions, licence fragments) as clean text.

The original is kept as the source wrote it; search, facets and pages read this form: tags gone, entities
decoded, paragraphs and line breaks as blank lines / new lines, list items as "- ", links as Markdown
`[text](url)`. Plain text passes through unchanged.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

# an element name after "<": "a < b" or "x<3" in plain text is not markup
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")
_BLOCKS = frozenset(
    {"p", "div", "section", "article", "table", "tr", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_SKIPPED = frozenset({"script", "style", "head", "title"})
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)+")


def has_markup(text: str) -> bool:
    return ("<" in text or "&" in text) and _MARKUP.search(text) is not None


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.links: list[tuple[str | None, int]] = []  # (href, index of the link text's first part)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "a":
            self.links.append((dict(attrs).get("href"), len(self.parts)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.parts[start:]).strip()
            if href and href.startswith(("http://", "https://", "mailto:", "ftp://")):
                del self.parts[start:]
                self.parts.append(f"[{label}]({href})" if label and label != href else href)

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def plain_text(text: str) -> str:
    """`text` without its HTML (see the module docstring); unchanged when it holds none."""
    if not has_markup(text):
        return text
    parser = _Text()
    try:
        parser.feed(text)
        parser.close()
        result = "".join(parser.parts)
    except Exception:  # never fail a record on odd markup: drop the tags the crude way
        result = unescape(re.sub(r"<[^>]*>", " ", text))
    lines = [_SPACES.sub(" ", line).strip() for line in result.replace("\xa0", " ").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def one_line(text: str) -> str:
    """A title, name or keyword as plain text on one line: the markup and entities a portal left in it
    ("Qualit&eacute; de l&#39;air", "<b>2024</b>") decoded, whitespace collapsed."""
    return " ".join(plain_text(text).split()) if has_markup(text) else text
