"""Datasets: `GET /api/datasets` (search with facets), `/api/datasets/{id}` (one record with its
provenance) and `/api/datasets/{id}/raw` (the payload as harvested).

The search backend only answers ids, totals and facet counts; every item is read from the store (the source
of truth), in the backend's order. Reads the store, the backend and the config from `request.app.state`.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
import logging
from functools import lru_cache
from typing import Annotated, Any, Literal, get_args

import msgspec
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ..federation.areas import Areas, areas_for
from ..indexer.backend import FACETS, MAX_PAGE_SIZE, MAX_RESULT_WINDOW, SORTS, SearchBackend
from ..mappings import vocabularies
from ..mappings.model import Dataset, Text, text_in
from ..store import Store
from ..store import labels as source_labels
from ..store.federation import FederationTables
from . import schemas
from .conventions import page_links
from .errors import ERRORS, NOT_FOUND, ApiError, json_response
from .harvests import source_info, source_ref
from .negotiation import languages
from .params import DatasetId, SearchParams, facets_param, search_params
from .quality import dataset_quality_json
from .reuses import reuses_json

log = logging.getLogger("fedcat.api")
router = APIRouter(tags=["datasets"])

Sort = Literal["relevance", "modified", "-modified"]
assert set(get_args(Sort)) == set(SORTS), "keep the API's sort values in step with the backend's SORTS"


@lru_cache(maxsize=65536)
def _label(value: str, langs: tuple[str, ...]) -> str:
    """A controlled URI's human label in the first of `langs` known; a literal (an unmapped format, a
    publisher name) is its own label."""
    if value.startswith(("http://", "https://", "urn:")):
        return vocabularies.label(value, langs)
    return value


def _labelled(value: str, langs: tuple[str, ...]) -> dict[str, str]:
    return {"value": value, "label": _label(value, langs)}


def _theme(ds: Dataset, uri: str, langs: tuple[str, ...]) -> dict[str, str]:
    """A theme or licence with fedcat's label for it, else the label its source gave (GEMET, AGROVOC…)."""
    if uri in ds.labels and not vocabularies.has_label(uri):
        return {"value": uri, "label": text_in(ds.labels[uri], langs)}
    return _labelled(uri, langs)


def _i18n(texts: list[Text]) -> list[dict[str, str | None]]:
    return [{"value": t.value, "lang": t.lang} for t in texts]


def _document(value: Any) -> Any:
    """A dataset as JSON, its texts `{"value", "lang"}` objects like the search items' `title_i18n` (the
    store's compact `["value", "lang"]` pairs are its own business); defaults left out."""
    if isinstance(value, Text):
        return {"value": value.value, "lang": value.lang}
    if isinstance(value, msgspec.Struct):
        out = {}
        for field in msgspec.structs.fields(value):
            item = getattr(value, field.name)
            default = field.default if field.default_factory is msgspec.NODEFAULT else field.default_factory()
            if item != default:
                out[field.encode_name] = _document(item)
        return out
    if isinstance(value, list):
        return [_document(v) for v in value]
    if isinstance(value, dict):
        return {k: _document(v) for k, v in value.items()}
    return value


def _record_labels(ds: Dataset, langs: tuple[str, ...]) -> dict[str, str]:
    uris = [
        *ds.themes,
        *ds.language,
        ds.licence,
        ds.accrual_periodicity,
        ds.access_rights,
        *ds.hvd_categories,
    ]
    for dist in ds.distributions:
        uris.extend((dist.format, dist.licence, *dist.language))
    return {u: _label(u, langs) for u in uris if u and u.startswith(("http://", "https://"))}


def _jurisdiction_names(request: Request) -> dict[str, str]:
    state = request.app.state
    names = getattr(state, "jurisdiction_names", None)
    if names is None:
        names = state.jurisdiction_names = {
            s.jurisdiction.key: s.jurisdiction.name
            for s in state.config.sources
            if s.jurisdiction and s.jurisdiction.name
        }
    return names


def _areas(request: Request) -> Areas:
    """The areas of settings.bodies (loaded again when a file changes); none readable: keys as labels."""
    return areas_for(request.app.state.config.settings.bodies)


# facets whose values are IRIs: labelled by fedcat's vocabularies, else by what their sources say
LABELLED_FACETS = ("theme", "licence", "format", "language")


def given_labels(store: Any, facets: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The labels sources give to the IRI facet values no vocabulary of fedcat labels (one query)."""
    unlabelled = [
        fv.value
        for name, values in facets.items()
        if name in LABELLED_FACETS
        for fv in values
        if fv.value.startswith(("http://", "https://", "urn:")) and not vocabularies.has_label(fv.value)
    ]
    return source_labels.given(store, unlabelled) if unlabelled else {}


def _facet_value(
    request: Request,
    facet: str,
    value: str,
    count: int,
    given: dict[str, dict[str, str]],
    langs: tuple[str, ...],
) -> dict[str, Any]:
    label = (
        vocabularies.label(value, langs, given=given[value])
        if value in given
        else _facet_label(request, facet, value, langs)
    )
    found = {"value": value, "label": label, "count": count}
    if facet == "jurisdiction":  # commune, epci, departement, region, country, eu: a facet by level
        found["level"] = value.split(":", 1)[0]
    return found


def _facet_label(request: Request, facet: str, value: str, langs: tuple[str, ...]) -> str:
    if facet == "source":
        return source_ref(request, value)["name"]
    if facet == "jurisdiction":
        named = _jurisdiction_names(request).get(value)
        return named or _areas(request).name(value)
    if facet in ("publisher", "keyword"):
        return value
    return _label(value, langs)


def _summary(
    request: Request, fedcat_id: str, source_id: str, ds: Dataset, langs: tuple[str, ...]
) -> dict[str, Any]:
    return {
        "id": fedcat_id,
        "uri": ds.uri,
        "kind": "data_service" if ds.service is not None else "dataset",
        "title": text_in(ds.title, langs),
        "description": text_in(ds.description_text or ds.description, langs),  # HTML as clean text
        "title_i18n": _i18n(ds.title),
        "description_i18n": _i18n(ds.description),
        "publisher": (text_in(ds.publisher.name, langs) or None) if ds.publisher else None,
        "themes": [_theme(ds, t, langs) for t in ds.themes],
        "formats": [
            _labelled(f, langs) for f in dict.fromkeys(d.format for d in ds.distributions if d.format)
        ],
        "licence": _theme(ds, ds.licence, langs) if ds.licence else None,
        "keywords": [k.value for k in ds.keywords],
        "modified": ds.modified,
        "issued": ds.issued,
        "landing_page": ds.landing_page[0] if ds.landing_page else None,
        "source": source_ref(request, source_id),
    }


@router.get(
    "/api/datasets",
    summary="Search datasets",
    response_model=schemas.DatasetsPage,
    responses=ERRORS,
)
def search_datasets(
    request: Request,
    params: Annotated[SearchParams, Depends(search_params)],
    sort: Annotated[
        Sort,
        Query(
            description="relevance (best match first; newest first when `q` is empty), modified "
            "(newest first) or -modified (oldest first). Undated datasets come last."
        ),
    ] = "relevance",
    page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
    page_size: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_PAGE_SIZE,
            description=f"Datasets per page, 1 to {MAX_PAGE_SIZE}; 0 answers only the total and the facets. "
            f"page × page_size may not exceed "
            f"{MAX_RESULT_WINDOW} (a 400 past it): narrow the search to reach further, or read every "
            "dataset from /catalog, paged by id without a depth limit.",
        ),
    ] = 20,
    facets: Annotated[
        list[str] | None,
        Query(
            description=f"Facets to count, comma-separated or repeated, among {', '.join(FACETS)}. "
            "Default: all of them; an empty value counts none (faster).",
            examples=["theme,format"],
        ),
    ] = None,
) -> Response:
    if page * page_size > MAX_RESULT_WINDOW:
        raise ApiError(
            400,
            f"page {page} × page_size {page_size} = {page * page_size} goes past result "
            f"{MAX_RESULT_WINDOW}, the deepest this search pages: narrow the search with `q` or "
            "filters, or read every dataset from /catalog, paged by id without a depth limit",
            "page",
        )
    counts_only = page_size == 0  # the total and the facets, as CKAN's rows=0 and Elasticsearch's size=0
    query = params.query(1 if counts_only else page, page_size or 1, sort=sort, facets=facets_param(facets))
    store: Store = request.app.state.store
    backend: SearchBackend = request.app.state.backend
    try:
        result = backend.search(query)
    except ValueError as exc:  # the backend's own check of the query; ours above should catch all
        log.warning("search refused by the backend: %s", exc)
        raise ApiError(400, str(exc)) from exc
    shown = [] if counts_only else result.ids
    found = store.datasets(shown)
    copies = FederationTables(store).members(shown)
    reuses = reuses_json(request, list(found))
    given = given_labels(store, result.facets)
    langs = languages(request)
    items = []
    for fedcat_id in () if counts_only else result.ids:
        hit = found.get(fedcat_id)
        if hit is None:
            # index ahead of the store (or a record removed by hand): the next sync repairs it
            log.warning("search hit %s is not in the store; skipped", fedcat_id)
            continue
        item = _summary(request, fedcat_id, hit["source_id"], hit["dataset"], langs)
        item["reuses"] = reuses[fedcat_id]
        # every path the dataset came by, canonical first (a record not clustered yet: itself)
        item["sources"] = copies.get(fedcat_id) or [
            {
                "source": hit["source_id"],
                "id": fedcat_id,
                "uri": hit["dataset"].original_uri,
                "last_seen": None,
            }
        ]
        items.append(item)
    links = (
        ""
        if counts_only
        else page_links(request, page, page_size, result.total, MAX_RESULT_WINDOW // page_size)
    )
    return json_response(
        {
            "total": result.total,
            "page": page,
            "page_size": page_size,
            "items": items,
            "facets": {
                name: [_facet_value(request, name, fv.value, fv.count, given, langs) for fv in values]
                for name, values in result.facets.items()
            },
        },
        headers={"Link": links, "Vary": "Accept-Language"} if links else {"Vary": "Accept-Language"},
    )


@router.get(
    "/api/datasets/{id}",
    summary="One dataset with its provenance",
    response_model=schemas.DatasetRecord,
    responses=NOT_FOUND,
)
def get_dataset(request: Request, id: DatasetId) -> Response:
    store: Store = request.app.state.store
    record = store.record(id)
    if record is None:
        raise ApiError(404, f"no dataset with id {id!r}", "id")
    ds: Dataset = record["dataset"]
    clustered = FederationTables(store).cluster_of(record["id"])
    langs = languages(request)
    body = {
        "id": record["id"],
        "cluster": None
        if clustered is None
        else {
            "id": clustered[0],
            "sources": clustered[1],
            "evidence": [msgspec.to_builtins(link) for link in clustered[2]],
        },
        "kind": "data_service" if ds.service is not None else "dataset",
        "title": text_in(ds.title, langs),  # as in the search items
        "title_i18n": _i18n(ds.title),
        "dataset": _document(ds),
        "labels": _record_labels(ds, langs),
        "quality": dataset_quality_json(store, record["id"], ds),
        "reuses": reuses_json(request, [record["id"]])[record["id"]],
        "source": source_info(request, record["source_id"]),
        **{
            key: record[key]
            for key in (
                "source_record_id",
                "original_uri",
                "first_seen",
                "last_seen",
                "first_run_id",
                "last_run_id",
                "withdrawn_at",
                "raw_hash",
                "raw_media_type",
                "fetch_url",
            )
        },
    }
    return json_response(body, headers={"Vary": "Accept-Language"})


@router.get(
    "/api/datasets/{id}/raw",
    summary="The raw record as harvested",
    description="The payload exactly as fetched from the source (for DCAT sources, the dataset's "
    "triples as N-Triples), with its stored media type.",
    responses={200: {"content": {"*/*": {}}}, **NOT_FOUND},
    response_class=Response,
)
def get_raw(request: Request, id: DatasetId) -> Response:
    raw = request.app.state.store.raw(id)
    if raw is None:
        raise ApiError(404, f"no dataset with id {id!r}", "id")
    payload, media_type = raw
    # harvested bytes served from our origin: never let a browser run them as a page
    return Response(
        payload,
        media_type=media_type,
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )
