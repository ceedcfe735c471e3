"""Templates, safe descriptions and charts: everything that turns page data into HTML.

Descriptions come from thousands of portals as Markdown, HTML (ArcGIS: `<div><p>…`) or plain text. Each is
rendered as Markdown (raw HTML allowed through), then cleaned by nh3 (the Ammonia sanitiser) with an
allow-list of tags, attributes and URL schemes: scripts, event handlers, `style` and `javascript:` links
never survive, whatever the source sent.
"""

from __future__ import annotations

import html
import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nh3
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h3", "h4", "h5",
    "h6", "hr", "i", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"colspan"}, "th": {"colspan"}}
URL_SCHEMES = {"http", "https", "mailto"}
_BLOCK_TAG = re.compile(r"</?(?:p|div|li|br|h\d|tr|td|th|blockquote|pre|ul|ol|dd|dt)\b", re.IGNORECASE)
# What can make Markdown change a text's words: inline marks, escapes, entities and HTML anywhere (`_INLINE`);
# list, heading, quote, rule and fence marks or a code block's indent at the start of a line (`_LINE_START`);
# control characters and line separators other than CR and LF (NUL is replaced; the others are whitespace to
# Python only). A text with none is paragraphs of its own words (`_paragraphs`): it is not rendered.
_INLINE = re.compile(r"[`*_~\[\]<>&\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_START = re.compile(r"[ \t]*(?:[-+#>=]|\d+[.)])| {4}| *\t")
_NEW_LINE_START = re.compile(r"\n(?:[ \t]*(?:[-+#>=]|\d+[.)])| {4}| *\t)")
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
_markdown = MarkdownIt("commonmark", {"html": True, "linkify": False}).disable("image")


_PRIVATE_NAMES = ("localhost", ".localhost", ".local", ".internal", ".lan", ".home.arpa")


@lru_cache(maxsize=65536)
def linkable(url: str | None) -> bool:
    """May a page link to `url`? http(s) only, and never to a loopback, private or link-local address
    (a harvested record must not turn our pages into links into the reader's network). Literal addresses
    and local names only: resolving names here would cost a DNS lookup per link and prove nothing."""
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost" or host.endswith(_PRIVATE_NAMES):
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return "." in host  # a public-looking name


def _keep_attribute(element: str, attribute: str, value: str) -> str | None:
    if element == "a" and attribute == "href" and not (value.startswith("mailto:") or linkable(value)):
        return None
    return value


@lru_cache(maxsize=4096)
def safe_description(text: str) -> Markup:
    """A description as sanitised HTML: Markdown rendered, raw HTML kept only where the allow-list says."""
    if not text:
        return Markup("")
    html = _markdown.render(text)
    # headings of a description sit under the page's own h2: h1/h2 of the source would break the outline
    html = (
        html.replace("<h1", "<h3").replace("</h1>", "</h3>").replace("<h2", "<h4").replace("</h2>", "</h4>")
    )
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
        attribute_filter=_keep_attribute,
    )
    return Markup(cleaned)  # nh3's output: the allow-listed HTML only


def plain_excerpt(text: str, limit: int = 240) -> str:
    """The first words of a description as text (tags dropped), for result lists."""
    # rendered first so that Markdown marks go; a text with no Markdown syntax (nor HTML) is its own words:
    # neither Markdown nor the sanitiser runs there (~0.3 ms a hit)
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n")  # as Markdown reads lines
    if _INLINE.search(lines) or _LINE_START.match(lines) or _NEW_LINE_START.search(lines):
        flat = flat_text(_markdown.render(text))
    else:
        # words apart, a no-break space (NUL stands for it, none is left here) kept inside its word
        flat = " ".join(_paragraphs(lines).replace("\xa0", "\0").split()).replace("\0", "\xa0")
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def _paragraphs(lines: str) -> str:
    """What Markdown makes of a text without syntax, as far as its words go: paragraphs between blank
    lines, each stripped of its outer whitespace (a no-break space too)."""
    return "\n".join(block.strip() for block in _BLANK_LINES.split(lines))


def flat_text(html_text: str) -> str:
    """The words of an HTML text, one space apart (a no-break space stays inside its word)."""
    # a space before block tags keeps "<p>a</p><p>b</p>" two words
    flat = " ".join(nh3.clean(_BLOCK_TAG.sub(r" \g<0>", html_text), tags=set()).split())
    return html.unescape(flat)  # nh3 writes text escaped (&amp;, &lt;, &nbsp;…): the page escapes it once


def bar_chart(rows: list[tuple[str, float]], maximum: float, title: str, unit: str = "") -> Markup:
    """A horizontal bar chart as inline SVG (made here, no script): one labelled bar per (label, value)."""
    from markupsafe import escape

    bar_height, gap, label_width, width = 22, 8, 300, 720
    height = len(rows) * (bar_height + gap) + gap
    scale = (width - label_width - 70) / maximum if maximum else 0
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for index, (label, value) in enumerate(rows):
        y = gap + index * (bar_height + gap)
        shown = label if len(label) <= 40 else label[:39] + "…"
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end">{escape(shown)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{max(value * scale, 1):.1f}" height="{bar_height}" '
            f'class="bar"><title>{escape(label)}: {value:g}{escape(unit)}</title></rect>'
            f'<text x="{label_width + max(value * scale, 1) + 6:.1f}" y="{y + bar_height * 0.7:.1f}">'
            f"{value:g}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # every text above is escaped


_DICT_ATTRIBUTES = frozenset(dir(dict))


class PageEnvironment(Environment):
    """Jinja's environment, with `x.key` on a plain dict read as `x["key"]` first.

    Jinja tries `getattr(x, "key")` first, and on a dict that raises AttributeError before the item is
    read: ~1.4 µs per access, and a search page reads ~2,000 keys of its facet values and hits. For a
    dict whose attributes (its methods) do not include the name, the answer is the same either way.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def environment() -> Environment:
    env = PageEnvironment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.update(
        safe_description=safe_description, bar_chart=bar_chart, plain_excerpt=plain_excerpt, linkable=linkable
    )
    return env


ENV = environment()


def render(template: str, context: dict[str, Any]) -> str:
    return ENV.get_template(template).render(context)
