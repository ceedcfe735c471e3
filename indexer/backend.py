"""The search contract every backend implements (embedded tantivy by default, Elasticsearch later).

A backend indexes flat `SearchDocument`s derived from stored records (`indexer.documents`) and answers
`SearchQuery`s with ids, totals and facet counts. The record store stays the source of truth: a backend can
always be rebuilt from it, and the API reads the hits' records from the store.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

# Facets every backend counts; each is a multi-valued keyword field of the document.
FACETS = (
    "publisher", "theme", "format", "licence", "keyword", "source", "jurisdiction", "language", "quality",
    "has_reuses",
)  # fmt: skip
# "relevance": best match first (newest first when the query has no words); "modified": most recently
# modified first; "-modified": oldest first. Ties go by id ascending and undated documents come last, in
# every order, so paging is stable.
SORTS = ("relevance", "modified", "-modified")
MAX_RESULT_WINDOW = 10_000  # page * page_size may not go deeper: deep paging belongs to /catalog and export
MAX_PAGE_SIZE = 100
FACET_SIZE = 50  # values returned per facet, most frequent first
# the most a query may ask for (`SearchQuery.facet_size`): whole value lists (the CKAN-compatible
# organization_list, tag_list) within what Elasticsearch's terms aggregation answers (search.max_buckets)
MAX_FACET_SIZE = 50_000


class IndexOutdated(ValueError):
    """An index built by another fedcat version (schema or facets changed): it must be rebuilt from the store."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(message)


class SearchUnavailable(RuntimeError):
    """The search engine cannot answer now (a node down or overloaded): the API says 503, a harvest keeps
    storing and leaves the records pending for the next sync."""


class SearchDocument(msgspec.Struct, omit_defaults=True):
    id: str
    title: str = ""
    description: str = ""
    keywords_text: str = ""  # keywords as searchable text (the `keyword` facet keeps exact values)
    publisher_text: str = ""
    modified: str = ""  # sortable date "YYYY-MM-DD…" or "" when unknown
    publisher: list[str] = []
    theme: list[str] = []
    format: list[str] = []
    licence: list[str] = []
    keyword: list[str] = []
    source: list[str] = []
    jurisdiction: list[str] = []
    language: list[str] = []
    quality: list[str] = []  # the MQA rating band (mappings.quality.BAND_NAMES)
    # "true" when a portal lists a reuse of the dataset or of a copy of it (store.reuses), else "false"
    has_reuses: list[str] = []
    # spatial coverage: [west, south, east, north] in degrees (west > east: across the antimeridian); [] none
    bbox: list[float] = []


class SearchQuery(msgspec.Struct, omit_defaults=True):
    q: str = ""
    filters: dict[str, list[str]] = {}  # facet -> accepted values (OR within a facet, AND across facets)
    modified_after: str | None = None  # inclusive, "YYYY-MM-DD"
    modified_before: str | None = None  # inclusive
    # keep documents whose bbox intersects [west, south, east, north] (west > east: across the antimeridian)
    bbox: tuple[float, float, float, float] | None = None
    sort: str = "relevance"
    page: int = 1
    page_size: int = 20
    facets: tuple[str, ...] = FACETS
    facet_size: int = FACET_SIZE  # values counted per facet, most frequent first (at most MAX_FACET_SIZE)


def longitude_spans(west: float, east: float) -> list[tuple[float, float]]:
    """A box's longitudes as one span, or two when it crosses the antimeridian (west > east)."""
    return [(west, east)] if west <= east else [(west, 180.0), (-180.0, east)]


def box_fields(bbox: list[float]) -> dict[str, float]:
    """A document's box as the fields the engines index: south, north, and west/east for its first longitude
    span and west2/east2 for a second one (across the antimeridian); none without a box."""
    if len(bbox) != 4:
        return {}
    west, south, east, north = bbox
    fields = {"south": south, "north": north}
    for suffix, (low, high) in zip(("", "2"), longitude_spans(west, east), strict=False):
        fields["west" + suffix], fields["east" + suffix] = low, high
    return fields


class FacetValue(msgspec.Struct):
    value: str
    count: int


class SearchResult(msgspec.Struct):
    total: int
    ids: list[str]
    facets: dict[str, list[FacetValue]]


class SearchBackend(ABC):
    """Backends are used from one writer and many readers; `commit` makes writes visible."""

    name: str
    remote = False  # a server that may be away (Elasticsearch), not files of this machine
    view_name = "search"  # the index's cursor in the store's change feed

    @abstractmethod
    def upsert(self, documents: Iterable[SearchDocument]) -> None:
        """Add or replace documents (by id)."""

    @abstractmethod
    def delete(self, ids: Iterable[str]) -> None:
        """Remove documents by id; unknown ids are ignored."""

    @abstractmethod
    def commit(self) -> None:
        """Make every write so far durable and visible to searches."""

    @abstractmethod
    def search(self, query: SearchQuery) -> SearchResult:
        """Answer a query; facet counts are over all hits, not just the page."""

    @abstractmethod
    def ids(self) -> set[str]:
        """Every indexed id (to reconcile the index with the store)."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every document (before a full rebuild)."""

    @property
    def outdated(self) -> bool:
        """The index was made by another version of the mappings (only Elasticsearch opens such an index,
        and keeps answering from it while `fedcat reindex` builds its successor)."""
        return False

    def health(self) -> dict[str, object]:
        """The engine's state for /health and `fedcat status` (a remote engine says whether it answers)."""
        return {"backend": self.name, "status": "ok"}

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """Around a rebuild from the store (`rebuild_index`): writes made inside replace the whole index.

        Here: clear at once. Elasticsearch builds a new generation while searches use the old one.
        """
        self.clear()
        self.commit()
        yield

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections."""
