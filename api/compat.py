"""What the CKAN- and udata-compatible read APIs (`api.ckan`, `api.udata`) share: the search through the
app's backend (as /api/datasets does: ids and counts from the index, records from the store), and the
organizations they both show, which are fedcat's publishers under a URL-safe slug."""

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import msgspec
from fastapi import Request

from ..indexer.backend import MAX_FACET_SIZE, MAX_PAGE_SIZE, FacetValue, SearchBackend, SearchQuery
from ..mappings import vocabularies
from ..mappings.model import Dataset, text_in
from ..store import Store

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    source_id: str
    dataset: Dataset


@dataclass(frozen=True, slots=True)
class Found:
    total: int
    hits: list[Hit]
    facets: dict[str, list[FacetValue]]


def search(request: Request, query: SearchQuery) -> Found:
    """One page of the backend's answer, its hits read from the store in the backend's order (a hit the
    store no longer holds is skipped: the next index sync repairs it)."""
    backend: SearchBackend = request.app.state.backend
    store: Store = request.app.state.store
    result = backend.search(query)
    found = store.datasets(result.ids)
    hits = [Hit(i, found[i]["source_id"], found[i]["dataset"]) for i in result.ids if i in found]
    return Found(result.total, hits, result.facets)


def search_window(request: Request, query: SearchQuery, start: int, rows: int) -> Found:
    """Hits start..start+rows (offsets, as CKAN pages) from the backend's pages of `rows` (one or two)."""
    rows = max(1, min(rows, MAX_PAGE_SIZE))
    first, last = start // rows + 1, (start + rows - 1) // rows + 1
    pages = [search(request, _page(query, page, rows)) for page in range(first, last + 1)]
    hits = [h for p in pages for h in p.hits]
    skip = start - (first - 1) * rows
    return Found(pages[0].total, hits[skip : skip + rows], pages[0].facets)


def _page(query: SearchQuery, page: int, page_size: int) -> SearchQuery:
    return msgspec.structs.replace(query, page=page, page_size=page_size)


@lru_cache(maxsize=65536)
def slug(name: str) -> str:
    """A publisher name as an organization slug: ASCII, lowercase, dashes ("Ville de Lille" → ville-de-lille)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return _NOT_SLUG.sub("-", folded).strip("-")[:90] or "org-" + hashlib.sha1(name.encode()).hexdigest()[:12]


def publisher_name(ds: Dataset) -> str | None:
    return (text_in(ds.publisher.name) or None) if ds.publisher else None


def facet_values(request: Request, facet: str, q: str = "") -> list[FacetValue]:
    """Every value of a facet (up to MAX_FACET_SIZE) over the datasets matching `q`, with its count of
    datasets (a cluster of copies counts once), most datasets first."""
    query = SearchQuery(q=q, page_size=1, facets=(facet,), facet_size=MAX_FACET_SIZE)
    return search(request, query).facets.get(facet, [])


def publishers(request: Request, q: str = "") -> list[FacetValue]:
    """Publisher names with their dataset counts, most datasets first."""
    return facet_values(request, "publisher", q)


def organization(request: Request, wanted: str) -> FacetValue | None:
    """The publisher an organization slug (or exact publisher name) names, with its count; None if none.

    The slug's words are searched (the search reads publisher names), so the publisher is among the few
    matching ones even when the catalogue has more publishers than one facet lists."""
    words = " ".join(w for w in wanted.replace("-", " ").split() if w)
    for candidates in (publishers(request, words), publishers(request)):
        for value in candidates:
            if value.value == wanted or slug(value.value) == wanted:
                return value
    return None


@lru_cache(maxsize=65536)
def label(uri: str) -> str:
    """A controlled URI's label (the format "CSV", a licence's name); a literal is its own label."""
    return vocabularies.label(uri) if uri.startswith(("http://", "https://")) else uri


def media_type(uri: str | None) -> str | None:
    """An IANA media-type URI as the bare type (text/csv)."""
    if not uri:
        return None
    marker = "/media-types/"
    return uri.split(marker, 1)[1] if marker in uri else uri
