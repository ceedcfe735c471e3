"""Jurisdictions as a hierarchy: commune → EPCI → département → région → country → EU.

The areas are the bodies of the registry the audit reads (`settings.bodies`: the decoupage-administratif
files and the administrator's own bodies files). Each record lies in the area of its publisher's matched
body (`audit.match`: SIREN, then name within the source's jurisdiction) when the registry knows it, else in
its source's jurisdiction. The search index stores every area the record lies in (`Areas.within`), so
`jurisdiction=epci:200093201` is a plain filter that finds the EPCI's own records and those of every
commune inside it, and `jurisdiction=country:FR` all of France.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from ..audit.match import Matcher
from ..audit.registry import COUNTRY, Registry
from ..mappings.model import Dataset, text_in

EU = "eu:EU"
LEVELS = ("commune", "epci", "departement", "region", "country", "eu")  # narrowest first
_NAMES = {COUNTRY: "France", EU: "Union européenne"}


class Areas:
    """What each area lies within, and its name; from a registry (empty: source jurisdictions only)."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()
        self.matcher = Matcher(self.registry)
        self._cache: dict[tuple, tuple[str, ...]] = {}

    def within(self, area: str | None) -> tuple[str, ...]:
        """The area, every area it lies in, and the EU above a member country."""
        if not area:
            return ()
        body = self.registry.get(area)
        found = set(body.within) if body else {area}
        if COUNTRY in found or area == COUNTRY:
            found.add(EU)
        return tuple(sorted(found))

    def of(self, dataset: Dataset, source_area: str | None) -> tuple[str, ...]:
        """Every area a record lies in: its publisher's body when matched, else its source's area."""
        publisher = dataset.publisher
        name = text_in(publisher.name) if publisher else ""
        identifier = (publisher.identifier or "") if publisher else ""
        uri = (publisher.uri or "") if publisher else ""
        key = (name, identifier, uri, source_area)
        found = self._cache.get(key)
        if found is None:
            body = None
            if len(self.registry) and (name or identifier or uri):
                body = self.matcher.match(name, identifier, uri, source_area).body
            found = self.within(body or source_area)
            if len(self._cache) < 200_000:
                self._cache[key] = found
        return found

    def name(self, area: str) -> str:
        body = self.registry.get(area)
        return body.name if body else _NAMES.get(area, area)


_loaded: dict[tuple, Areas] = {}
_lock = threading.Lock()


def areas_for(paths: Iterable[Path]) -> Areas:
    """The areas of these registry files, loaded once and again when a file changes."""
    paths = tuple(paths)
    if not paths:
        return Areas()
    stamp = tuple((str(p), p.stat().st_mtime_ns if p.exists() else 0) for p in paths)
    with _lock:
        if stamp not in _loaded:
            _loaded.clear()
            _loaded[stamp] = Areas(Registry.load(paths))
        return _loaded[stamp]
