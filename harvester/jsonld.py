"""Remote JSON-LD contexts, fetched by fedcat and written into the page before it is parsed.

A JSON-LD catalogue often names its `@context` by URL (DCAT-AP's examples point at the SEMIC context). The
parser reads no URL itself, so such a page failed the whole source ("No LoadDocumentCallback"). The DCAT
adapter now loads each context through the source's own HTTP client — the same origin rule, address checks,
size caps and politeness as its pages: a context on another host needs that host in the source's
`allowed_hosts` — and puts it in the page in place of its URL. Contexts are kept for the run (a catalogue
names the same few on every page), at most `MAX_CONTEXTS` of them, nested at most `MAX_NESTING` deep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

from .http import HarvestError, UnsafeLink

MAX_CONTEXTS = 16  # distinct context documents one run may load
MAX_NESTING = 8  # a context naming a context naming a context…

# "@context": "http…", "@context": ["http…", …] or "@import": "…": only then is the page read as JSON here
# (an inline context object, the usual case, costs no parse)
_REMOTE = re.compile(rb'"@(?:context|import)"\s*:\s*(?:"|\[\s*")')


class ContextLoader:
    """Loads and keeps the remote contexts of one run; `fetch(url)` returns a context document's bytes."""

    def __init__(self, fetch: Callable[[str], bytes]) -> None:
        self._fetch = fetch
        self._loaded: dict[str, Any] = {}

    def inline(self, content: bytes, page_url: str) -> bytes:
        """The page with every remote context replaced by the context it names; unchanged when it names
        none (the common case costs one regular-expression scan)."""
        if not _REMOTE.search(content):
            return content
        try:
            document = json.loads(content)
        except (ValueError, RecursionError):
            return content  # the parser will say what is wrong with it
        changed = self._resolve_within(document, page_url, 0)
        return json.dumps(document, ensure_ascii=False).encode("utf-8") if changed else content

    def _resolve_within(self, node: Any, base: str, depth: int) -> bool:
        """Replace, in place, the remote contexts of every `@context` (and `@import`) under `node`."""
        changed = False
        stack = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                if "@context" in item:
                    resolved, did = self._context(item["@context"], base, depth)
                    if did:
                        item["@context"] = resolved
                        changed = True
                if isinstance(item.get("@import"), str):
                    imported = self._load(item.pop("@import"), base, depth)
                    for key, value in (imported if isinstance(imported, dict) else {}).items():
                        item.setdefault(key, value)  # the importing context's own terms win
                    changed = True
                stack.extend(v for k, v in item.items() if k != "@context")
        return changed

    def _context(self, value: Any, base: str, depth: int) -> tuple[Any, bool]:
        if isinstance(value, str):
            return self._load(value, base, depth), True
        if isinstance(value, list):
            parts = [self._context(v, base, depth) for v in value]
            return [p for p, _ in parts], any(did for _, did in parts)
        if isinstance(value, dict):
            return value, self._resolve_within(value, base, depth)
        return value, False

    def _load(self, reference: str, base: str, depth: int) -> Any:
        url = urljoin(base, reference)
        if url in self._loaded:
            return self._loaded[url]
        if depth >= MAX_NESTING:
            raise HarvestError(f"JSON-LD context {url}: contexts nested more than {MAX_NESTING} deep")
        if len(self._loaded) >= MAX_CONTEXTS:
            raise HarvestError(f"JSON-LD context {url}: more than {MAX_CONTEXTS} remote contexts in one run")
        try:
            body = self._fetch(url)
        except UnsafeLink as exc:
            raise HarvestError(
                f"the page's JSON-LD @context {url} cannot be loaded: {exc} (fedcat loads remote contexts "
                "like any link of the source)"
            ) from exc
        except HarvestError as exc:
            raise HarvestError(f"the page's JSON-LD @context {url} cannot be loaded: {exc}") from exc
        try:
            loaded = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise HarvestError(f"the page's JSON-LD @context {url} is not JSON: {exc}") from exc
        context = loaded.get("@context", {}) if isinstance(loaded, dict) else {}
        self._loaded[url] = {}  # a context naming itself again is cut short, not followed forever
        context, _ = self._context(context, url, depth + 1)
        self._loaded[url] = context
        return context
