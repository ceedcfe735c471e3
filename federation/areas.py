"""Jurisdictions as a hierarchy: commune → EPCI → département → région → country → EU.

The areas are the bodies of the registry the audit reads (`settings.bodies`: the decoupage-administratif
files and the administrator's own bodies files). Each record lies in the area of its publisher's matched
body (`audit.match`: SIREN, then name within the source's jurisdiction) when the registry knows it, else in
its source's jurisdiction. The search index stores every area the record lies in (`Areas.within`), so
`jurisdiction=epci:200093201` is a plain filter that finds the EPCI's own records and those of every
commune inside it, and `jurisdiction=country:FR` all of France.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from ..audit.match import Matcher
from ..audit.registry import COUNTRY, Registry, RegistryError
from ..mappings.model import text_in
from .keys import Readable

log = logging.getLogger("fedcat.federation")
EU = "eu:EU"
LEVELS = ("commune", "epci", "departement", "region", "country", "eu")  # narrowest first
_NAMES = {COUNTRY: "France", EU: "Union européenne"}


class Areas:
    """What each area lies within, and its name; from a registry (empty: source jurisdictions only)."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()
        self.matcher = Matcher(self.registry)
        self._cache: dict[tuple, str | None] = {}

    def within(self, area: str | None) -> tuple[str, ...]:
        """The area, every area it lies in, and the EU above a member country."""
        if not area:
            return ()
        body = self.registry.get(area)
        found = set(body.within) if body else {area}
        if COUNTRY in found or area == COUNTRY:
            found.add(EU)
        return tuple(sorted(found))

    def body(self, dataset: Readable, source_area: str | None) -> str | None:
        """The registry body of the record's publisher (a record without one: its source's, when a body),
        or None."""
        if not len(self.registry):
            return None
        publisher = dataset.publisher
        name = text_in(publisher.name) if publisher else ""
        identifier = (publisher.identifier or "") if publisher else ""
        uri = (publisher.uri or "") if publisher else ""
        key = (name, identifier, uri, source_area)
        if key not in self._cache:
            if len(self._cache) >= 200_000:  # distinct publishers are few; a bound all the same
                self._cache.clear()
            self._cache[key] = self.matcher.match(name, identifier, uri, source_area).body
        return self._cache[key]

    def of(self, dataset: Readable, source_area: str | None) -> tuple[str, ...]:
        """Every area a record lies in: its publisher's body when matched, else its source's area."""
        return self.within(self.body(dataset, source_area) or source_area)

    def name(self, area: str) -> str:
        body = self.registry.get(area)
        return body.name if body else _NAMES.get(area, area)


_loaded: dict[tuple, Areas] = {}
_lock = threading.Lock()


def areas_for(paths: Iterable[Path]) -> Areas:
    """The areas of these registry files, loaded once and again when a file changes. A file that cannot
    be read is logged and leaves the areas empty (records then lie in their source's jurisdiction): an
    indexing run never fails on it, `fedcat audit` reports it."""
    paths = tuple(paths)
    if not paths:
        return Areas()
    stamp = tuple((str(p), p.stat().st_mtime_ns if p.exists() else 0) for p in paths)
    with _lock:
        if stamp not in _loaded:
            _loaded.clear()
            try:
                _loaded[stamp] = Areas(Registry.load(paths))
            except (OSError, RegistryError) as exc:
                log.warning("jurisdiction areas: the registry of public bodies cannot be read: %s", exc)
                _loaded[stamp] = Areas()
        return _loaded[stamp]
