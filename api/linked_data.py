"""Linked data: every dataset and the whole catalogue as DCAT-AP RDF, by content negotiation and extension.

- `GET /datasets/{id}` (or `/datasets/{id}.ttl|.rdf|.jsonld|.nt`): the dataset under fedcat's IRI with its
  catalogue record, the source's record and catalogue, and every copy (its federation cluster's, and the
  same source IRI harvested from another source: `owl:sameAs`, and that source's catalogue listing it). HTML for browsers. A withdrawn
  record answers 410 Gone.
- `GET /datasets/{id}/validation`: the dataset's document checked against the DCAT-AP 3.0 shapes.
- `GET /catalog` (or `/catalog.ttl`…): the `dcat:Catalog`, Hydra-paged. Unfiltered, pages are read by keyset
  (record id order), so page 900 costs what page 1 costs; `next` links carry the last id (`after=`), so a
  walk that follows them reads every record exactly once even while the catalogue changes. With any search
  filter (the search API's: `q`, `publisher`, `theme`…), pages come from the search backend, which pages at
  most 10,000 datasets deep: the page says so (`hydra:description`) and deeper requests are refused (400).
- `GET /sources/{id}` (or `.ttl`…): a source as the `dcat:Catalog` fedcat harvests.

Content negotiation follows RFC 9110: the Accept media ranges with their q-values, the most specific range
deciding each offer's quality, ties going to Turtle; nothing acceptable gives 406 with the offered types.
An extension overrides Accept. Errors are the API's JSON errors.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response
from starlette.convertors import Convertor, register_url_convertor

from ..indexer.backend import MAX_PAGE_SIZE, MAX_RESULT_WINDOW
from ..indexer.sparql import catalog_info_from_store
from ..mappings.catalog_rdf import (
    CatalogInfo,
    HydraView,
    RecordRow,
    to_format,
    write_catalog,
    write_hydra,
    write_record,
    write_source_catalog,
)
from ..mappings.rdf import Writer, iri, owl
from ..store import Store
from ..store.catalog import CatalogReader, live_id_at, record_rows, rows_from
from ..store.catalog import duplicates_of as same_iri_copies_of
from ..store.federation import FederationTables
from ..store.reuses import ReuseReads
from .errors import error_response
from .negotiation import DOCUMENT_OFFERS, MEDIA_TYPES, format_for, split_extension
from .params import SearchParams, search_params

log = logging.getLogger("fedcat.api.linked_data")
CATALOG_PAGE_SIZE, CATALOG_MAX_PAGE_SIZE = 100, 1000
ANCHOR_EVERY = 100  # the id of every 100th live record is kept: page N starts at most 99 rows from one
_encoder = msgspec.json.Encoder()


def _rdf_response(
    ntriples: str, fmt: str, *, negotiated: bool, links: dict[str, str] | None = None
) -> Response:
    body = to_format(ntriples, fmt)
    media_type = MEDIA_TYPES[fmt] + ("; charset=utf-8" if fmt in ("ttl", "nt") else "")
    headers = {"Vary": "Accept"} if negotiated else {}
    if links:
        headers["Link"] = ", ".join(
            f'<{url}>; rel="alternate"; type="{MEDIA_TYPES[f]}"' for f, url in links.items()
        )
    return Response(body, media_type=media_type, headers=headers)


# --- per-app state -----------------------------------------------------------------------------------------


class CatalogPager:
    """Keyset paging of the live records in id order, with page numbers.

    A page number needs the id at position (N-1) × size: the id of every ANCHOR_EVERY-th live record is
    kept in memory (10,000 ids for 1M records, read from the primary-key index in ~0.5 s), so page N is an
    index range from the nearest anchor, whatever N. The anchors are rebuilt when the store has changed
    (SQLite's data_version), at most once per 100× the last rebuild's cost while it keeps changing (a harvest
    writing a page a second): between rebuilds a numbered page may start a few records off, never a walk
    that follows the `next` links, which carry the last id seen.
    """

    def __init__(self, path: str) -> None:
        self._reader = CatalogReader(path)
        self._lock = threading.Lock()
        self._anchors: list[str] = []
        self._total = 0
        self._version: int | None = None
        self._built_at = 0.0
        self._cost = 0.0

    def anchors(self) -> tuple[list[str], int]:
        with self._lock:
            version = self._reader.data_version()
            stale = self._version is None or version != self._version
            if stale and (self._version is None or time.monotonic() - self._built_at > 100 * self._cost):
                started = time.perf_counter()
                anchors, total = [], 0
                for record_id in self._reader.live_ids():
                    if total % ANCHOR_EVERY == 0:
                        anchors.append(record_id)
                    total += 1
                self._anchors, self._total, self._version = anchors, total, version
                self._built_at, self._cost = time.monotonic(), time.perf_counter() - started
            return self._anchors, self._total

    def start(self, store: Store, offset: int) -> str | None:
        """The id of the live record at `offset` in id order (None past the end)."""
        anchors, _ = self.anchors()
        index = offset // ANCHOR_EVERY
        if index >= len(anchors):
            return None
        return live_id_at(store, anchors[index], offset - index * ANCHOR_EVERY)

    def close(self) -> None:
        self._reader.close()


@dataclass
class LinkedData:
    store: Store
    backend: Any
    config: Any
    pager: CatalogPager
    _info: CatalogInfo | None = None
    _info_at: float = 0.0
    sparql: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def info(self) -> CatalogInfo:
        """The catalogue's and sources' descriptions (config, plus sources only the store still knows)."""
        if self._info is None or time.monotonic() - self._info_at > 10:
            self._info = catalog_info_from_store(self.store, self.config.settings.base_url, self.config)
            self._info_at = time.monotonic()
        return self._info


def _state(request: Request) -> LinkedData:
    app = request.app
    state = getattr(app.state, "linked_data", None)
    if state is None:
        with _state_lock:
            state = getattr(app.state, "linked_data", None)
            if state is None:
                store = app.state.store
                state = LinkedData(store, app.state.backend, app.state.config, CatalogPager(str(store.path)))
                app.state.linked_data = state
    return state


_state_lock = threading.Lock()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    state = getattr(app.state, "linked_data", None)
    if state is not None:
        if state.sparql is not None:
            state.sparql.close()
        state.pager.close()


router = APIRouter(tags=["linked data"], lifespan=_lifespan)


# --- datasets ----------------------------------------------------------------------------------------------


def _row(store: Store, fedcat_id: str) -> tuple[RecordRow | None, dict[str, Any] | None]:
    record = store.record(fedcat_id)
    if record is None:
        return None, None
    live = record_rows(store, [fedcat_id]) if not record["withdrawn_at"] else []
    row = (
        live[0]
        if live
        else RecordRow(  # with its cluster's canonical copy (`Origin`) when live
            record["id"],
            record["source_id"],
            record["source_record_id"],
            record["first_seen"],
            record["last_seen"],
            record["dataset"],
            reuses=ReuseReads(store).listed([fedcat_id])[fedcat_id],
        )
    )
    return row, record


def duplicates(store: Store, fedcat_id: str, original_uri: str | None) -> list[tuple[str, str, str]]:
    """Other live copies of the dataset: its federation cluster's (`fedcat.federation`), then records of
    the same source IRI not clustered with it yet: (id, source id, dataset IRI)."""
    return copies_of(store, [(fedcat_id, original_uri)])[fedcat_id]


def copies_of(store: Store, records: list[tuple[str, str | None]]) -> dict[str, list[tuple[str, str, str]]]:
    """`duplicates` of several (id, source IRI) records: a page of search hits in two queries."""
    clustered = FederationTables(store).other_copies_of([fedcat_id for fedcat_id, _uri in records])
    same_iri = same_iri_copies_of(store, records)
    found = {}
    for fedcat_id, _uri in records:
        copies = {r[0]: r for r in clustered[fedcat_id]}
        for r in same_iri[fedcat_id]:
            copies.setdefault(r[0], r)
        found[fedcat_id] = list(copies.values())
    return found


def duplicates_of(
    request: Request, records: list[tuple[str, str | None]]
) -> dict[str, list[tuple[str, str, str]]]:
    """`copies_of` for the web pages: through this app's state, which made sure of the duplicates index."""
    return copies_of(_state(request).store, records)


def source_names(request: Request) -> dict[str, str]:
    """Source id -> name, configured and removed ones (from the catalogue description, kept ~10 s)."""
    return {source_id: info.name for source_id, info in _state(request).info().sources.items()}


def dataset_document(state: LinkedData, row: RecordRow, original_uri: str | None) -> str:
    """The dataset's document as N-Triples: what the export says of it, the catalogues, its duplicates."""
    info = state.info()
    w = Writer(row.dataset.uri)
    write_catalog(w, info, source_ids=[row.source_id])
    write_record(w, info, row)
    subject = iri(row.dataset.uri)
    for _other_id, other_source, other_uri in duplicates(state.store, row.id, original_uri):
        w.add(subject, owl.sameAs, iri(other_uri))
        catalog = write_source_catalog(w, info, other_source)
        w.add(iri(info.iri), "<http://www.w3.org/ns/dcat#catalog>", catalog)
        w.add(catalog, "<http://www.w3.org/ns/dcat#dataset>", subject)
    return "".join(w.grouped())


PageLanguage = Annotated[
    str | None, Query(description="For browsers (HTML): the page's language, fr or en; kept in a cookie.")
]
DatasetName = Annotated[
    str,
    Path(
        description="fedcat's id of the record, optionally with a format extension (.ttl, .rdf, .jsonld, .nt)."
    ),
]


@router.get(
    "/datasets/{name}",
    summary="A dataset as DCAT-AP (Turtle, RDF/XML, JSON-LD, N-Triples or HTML)",
    response_class=Response,
    responses={
        200: {"content": {m: {} for m in MEDIA_TYPES.values()}},
        404: {"description": "No such dataset, or an unknown extension."},
        406: {"description": "None of the Accept types is offered."},
        410: {"description": "The dataset was withdrawn by its source."},
    },
)
def dataset(request: Request, name: DatasetName, lang: PageLanguage = None) -> Response:
    state = _state(request)
    fedcat_id, ext = split_extension(name)
    fmt = format_for(request, ext, DOCUMENT_OFFERS)
    if isinstance(fmt, Response):
        return fmt
    row, record = _row(state.store, fedcat_id)
    if (row is None or record is None) and fmt == "html":
        return request.app.state.html_pages.missing(request, "dataset", fedcat_id)
    if row is None or record is None:
        return error_response(404, f"no dataset with id {fedcat_id!r}", "id")
    if record["withdrawn_at"]:
        return error_response(
            410, f"dataset {fedcat_id!r} was withdrawn by its source on {record['withdrawn_at']}", "id"
        )
    if fmt == "html":  # the page for people, rendered by web/ (installed by create_app)
        others = duplicates(state.store, row.id, record["original_uri"])
        return _vary(request.app.state.html_pages.dataset_page(request, record, others), ext is None)
    document = dataset_document(state, row, record["original_uri"])
    base = str(request.url_for("dataset", name=fedcat_id))
    links = {f: f"{base}.{f}" for f in ("ttl", "rdf", "jsonld", "nt")}
    return _rdf_response(document, fmt, negotiated=ext is None, links=links)


@router.get(
    "/datasets/{id}/validation",
    summary="The dataset's DCAT-AP 3.0 SHACL validation",
    description="Its document (as `/datasets/{id}` serves it) validated with pyshacl against the official "
    "DCAT-AP 3.0 shapes when the operator installed them, else fedcat's DCAT-AP 3.0 core shapes (`shapes` "
    "says which; nothing is ever fetched). Each violation says its `cause`: `source` (a mandatory property "
    "the source never gave) or `fedcat` (a serialisation fault: there should be none).",
    responses={
        404: {"description": "No such dataset."},
        503: {"description": "The shapes the operator configured cannot be read."},
    },
)
def dataset_validation(
    request: Request,
    id: Annotated[str, Path(description="fedcat's id of the record.")],
    profile: Annotated[str, Query(description="dcat-ap-3.0.1 (default) or dcat-ap-3.0.0.")] = "dcat-ap-3.0.1",
) -> Response:
    from ..validation import shacl

    state = _state(request)
    if profile not in shacl.PROFILES:
        return error_response(
            400, f"profile must be one of {', '.join(shacl.PROFILES)}, got {profile!r}", "profile"
        )
    row, record = _row(state.store, id)
    if row is None or record is None:
        return error_response(404, f"no dataset with id {id!r}", "id")
    try:  # never fetches: the official shapes the operator installed, else fedcat's core shapes
        choice = shacl.resolve_shapes(profile, data_dir=state.store.path.parent)
        shapes = shacl.load_shapes(choice.files, choice.label)
    except shacl.ShapesError:
        return error_response(503, shacl.NOT_READABLE)
    lines, owners = shacl.record_document(state.info(), row)
    report = shacl.validate("".join(lines), shapes, profile, owners)
    report.datasets = 1
    violations = report.violations()
    return Response(
        _encoder.encode(
            {
                "id": id,
                "profile": profile,
                "shapes": shapes.label,
                "conforms": report.conforms,
                "counts": {
                    "violations": len(violations),
                    **{cause: len(report.violations(cause)) for cause in shacl.CAUSES},
                },
                "violations": [
                    {
                        "rule": f.rule,
                        "cause": f.cause,
                        "focus": f.focus,
                        "path": f.path,
                        "value": f.value,
                        "message": f.message,
                    }
                    for f in violations
                ],
            }
        ),
        media_type="application/json",
    )


# --- sources -----------------------------------------------------------------------------------------------


@router.get(
    "/sources/{name}",
    summary="A source as the dcat:Catalog fedcat harvests",
    response_class=Response,
    responses={404: {"description": "No such source."}, 406: {"description": "No acceptable type."}},
)
def source_catalog(
    request: Request,
    name: Annotated[str, Path(description="The source id, optionally with a format extension.")],
    lang: PageLanguage = None,
) -> Response:
    state = _state(request)
    source_id, ext = split_extension(name)
    fmt = format_for(request, ext, DOCUMENT_OFFERS)
    if isinstance(fmt, Response):
        return fmt
    info = state.info()
    if source_id not in info.sources:
        if fmt == "html":
            return request.app.state.html_pages.missing(request, "source", source_id)
        return error_response(404, f"no source {source_id!r}", "id")
    if fmt == "html":  # a browser: the source's page (web/); RDF clients keep the dcat:Catalog
        return _vary(request.app.state.html_pages.source_page(request, source_id), ext is None)
    w = Writer(info.source_iri(source_id))
    catalog = write_source_catalog(w, info, source_id)
    w.add(
        catalog,
        "<http://www.w3.org/2000/01/rdf-schema#seeAlso>",
        iri(f"{info.iri}?{urlencode({'source': source_id})}"),
    )
    return _rdf_response("".join(w.grouped()), fmt, negotiated=ext is None)


# --- the catalogue -----------------------------------------------------------------------------------------


class _Extension(Convertor):
    """An optional ".ext" glued to a path segment: "/catalog" and "/catalog.ttl" are one route."""

    regex = r"(?:\.[A-Za-z0-9]+)?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("fedcat_ext", _Extension())


def _copies(store, hits: list[str], sources: list[str] | None) -> list[str]:
    """A slice lists records, not search hits: each hit (one per cluster of copies) as its copies, only
    those of the filtered sources when `source=` is given, so a portal harvesting its slice gets its own."""
    members = FederationTables(store).members(hits)
    ids: list[str] = []
    for hit in hits:
        copies = members.get(hit) or [{"id": hit, "source": None}]
        ids += [c["id"] for c in copies if not sources or c["source"] in sources or c["source"] is None]
    return ids


@router.get(
    "/catalog{ext:fedcat_ext}",
    summary="The catalogue as DCAT-AP, Hydra-paged (Turtle, RDF/XML, JSON-LD, N-Triples)",
    description="The `dcat:Catalog` with a page of its datasets and their `dcat:CatalogRecord`s. Unfiltered "
    "pages are read by keyset, as deep as the catalogue goes, and their `next` link carries `after` (the "
    "last id) so that following the links reads each record exactly once. Any filter pages through the "
    f"search index instead: at most {MAX_PAGE_SIZE} per page and {MAX_RESULT_WINDOW:,} datasets deep.",
    response_class=Response,
    responses={
        400: {"description": "A filtered page past the search depth, or a bad parameter."},
        404: {"description": "A page past the last one, or an unknown extension."},
        406: {"description": "No acceptable type."},
    },
)
def catalog(
    request: Request,
    ext: Annotated[str, Path(description="Nothing, or a format extension: .ttl, .rdf, .jsonld, .nt.")],
    search: Annotated[SearchParams, Depends(search_params)],
    page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
    page_size: Annotated[
        int,
        Query(
            ge=1,
            description=f"Datasets per page (default {CATALOG_PAGE_SIZE}; capped at "
            f"{CATALOG_MAX_PAGE_SIZE}, {MAX_PAGE_SIZE} when filtered).",
        ),
    ] = CATALOG_PAGE_SIZE,
    after: Annotated[
        str | None, Query(description="Start after this record id (the `next` links set it).")
    ] = None,
) -> Response:
    state = _state(request)
    fmt = format_for(request, ext[1:].lower() or None, DOCUMENT_OFFERS)
    if isinstance(fmt, Response):
        return fmt
    negotiated = not ext
    filtered = search.filtered
    info = state.info()
    path = request.url.path
    params = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("page", "page_size", "after")
    ]

    def url(number: int, size: int, **extra: str) -> str:
        query = urlencode([*params, ("page", str(number)), ("page_size", str(size)), *extra.items()])
        return str(request.base_url).rstrip("/") + path + "?" + query

    if filtered:
        size = min(page_size, MAX_PAGE_SIZE)
        if page * size > MAX_RESULT_WINDOW:
            return error_response(
                400,
                f"page {page} × page_size {size} goes past dataset {MAX_RESULT_WINDOW:,}, the deepest a filtered "
                "catalogue pages (it is read through the search index): narrow the filters, or page the "
                "unfiltered catalogue, which has no depth limit",
                "page",
            )
        query = search.query(page, size, facets=())
        try:
            result = state.backend.search(query)
        except ValueError as exc:
            return error_response(400, str(exc))
        rows = record_rows(state.store, _copies(state.store, result.ids, search.filters.get("source")))
        total = result.total
        last = max(1, min(-(-total // size), MAX_RESULT_WINDOW // size))
        next_url = url(page + 1, size) if page < last else None
        collection = str(request.base_url).rstrip("/") + path + ("?" + urlencode(params) if params else "")
        note = (
            f"A filtered slice of {info.iri}, paged through the search index: at most {MAX_RESULT_WINDOW:,} "
            "datasets deep (page x page_size). Narrow the filters to reach further, or page the unfiltered "
            "catalogue, which has no depth limit."
        )
    else:
        size = min(page_size, CATALOG_MAX_PAGE_SIZE)
        _, total = state.pager.anchors()
        last = max(1, -(-total // size))
        if after is not None:
            rows = rows_from(state.store, after, size + 1)
        else:
            if page > last:
                return error_response(404, f"page {page} is past the last page, {last}", "page")
            start = state.pager.start(state.store, (page - 1) * size)
            rows = rows_from(state.store, start, size + 1, inclusive=True) if start is not None else []
        more = len(rows) > size
        rows = rows[:size]
        next_url = url(page + 1, size, after=rows[-1].id) if more and rows else None
        collection, note = info.iri, None
    if page > last and not rows:
        return error_response(404, f"page {page} is past the last page, {last}", "page")
    view = HydraView(
        collection=collection,
        view=url(page, size) if after is None else url(page, size, after=after),
        total=total,
        first=url(1, size),
        previous=url(page - 1, size) if page > 1 else None,
        next=next_url,
        last=url(last, size),
        note=note,
    )
    if fmt == "html":  # the page for people, rendered by web/ (installed by create_app)
        pages = request.app.state.html_pages
        first = (page - 1) * size + 1
        return _vary(
            pages.catalog_page(request, info, rows, view, number=page, last=last, first=first), negotiated
        )
    w = Writer(view.view)
    write_catalog(w, info)
    write_hydra(w, view)
    lines = w.grouped()
    for row in rows:
        w = Writer(row.dataset.uri)
        write_record(w, info, row)
        lines.extend(w.grouped())
    return _rdf_response("".join(lines), fmt, negotiated=negotiated)


# --- HTML for browsers -------------------------------------------------------------------------------------


def _vary(response: Response, negotiated: bool) -> Response:
    if negotiated:
        response.headers["Vary"] = "Accept, Accept-Language, Cookie"
    return response
