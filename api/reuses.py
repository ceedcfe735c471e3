"""Reuses: `GET /api/reuses` (search, faceted by type and source) and `/api/reuses/{id}` (one reuse with the
fedcat records of the datasets it uses); `reuses_json`, the `reuses` block of dataset items and documents.

Reads the store (`store.reuses`) and the config from `request.app.state`.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from ..mappings.reuse import Reuse, reuse_types, type_label
from ..store.reuses import Reuses
from . import schemas
from .conventions import page_links
from .errors import ERRORS, NOT_FOUND, ApiError, json_response
from .harvests import source_info, source_ref
from .negotiation import languages
from .params import check_closed_sets

router = APIRouter(tags=["reuses"])
MAX_PAGE_SIZE = 100
FIRST_ITEMS = 3  # reuses shown in a dataset's `reuses` block (its `count` says how many there are)


def reuse_summary(request: Request, summary: dict[str, Any]) -> dict[str, Any]:
    reuse: Reuse = summary["reuse"]
    return {
        "id": summary["id"],
        "title": reuse.title,
        "type": reuse.type,
        "type_label": type_label(reuse.type, languages(request)),
        "url": reuse.url,
        "page": reuse.page,
        "image": reuse.image,
        "organization": reuse.organization,
        "owner": reuse.owner,
        "modified": reuse.modified,
        "source": source_ref(request, summary["source"]),
    }


def reuses_json(request: Request, record_ids: list[str]) -> dict[str, dict[str, Any]]:
    """record -> {count, items: the newest FIRST_ITEMS}: reuses of the record or of any copy of it."""
    reuses = Reuses(request.app.state.store)
    of = reuses.of_records(record_ids)
    shown = reuses.summaries(sorted({i for ids in of.values() for i in ids[:FIRST_ITEMS]}))
    return {
        r: {
            "count": len(ids),
            "items": [reuse_summary(request, shown[i]) for i in ids[:FIRST_ITEMS] if i in shown],
        }
        for r, ids in of.items()
    }


@router.get(
    "/api/reuses",
    summary="Search reuses",
    description="The applications, visualisations, articles and APIs the harvested portals list as built "
    "on their datasets, newest first, with counts by type and by source.",
    response_model=schemas.ReusesPage,
    responses=ERRORS,
)
def search_reuses(
    request: Request,
    q: Annotated[str, Query(description="Words of the title, description or tags (all of them).")] = "",
    type: Annotated[
        list[str] | None, Query(description=f"Keep reuses of this type: {', '.join(reuse_types())}.")
    ] = None,
    dataset: Annotated[
        str | None,
        Query(description="Keep reuses of this dataset (fedcat's id) or of any copy of it in its cluster."),
    ] = None,
    source: Annotated[list[str] | None, Query(description="Keep reuses listed by this source id.")] = None,
    page: Annotated[int, Query(ge=1, le=10_000, description="Page number, from 1.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Reuses per page.")] = 20,
) -> Response:
    types = list(dict.fromkeys(t.strip() for t in type or () if t.strip()))
    unknown = [t for t in types if t not in reuse_types()]
    if unknown:
        raise ApiError(
            400,
            f"type: unknown type {', '.join(map(repr, unknown))}; types are {', '.join(reuse_types())}",
            "type",
        )
    check_closed_sets(request, source, None)
    sources = list(dict.fromkeys(s.strip() for s in source or () if s.strip()))
    found = Reuses(request.app.state.store).search(
        q,
        types,
        sources,
        dataset.strip() if dataset and dataset.strip() else None,
        (page - 1) * page_size,
        page_size,
    )
    body = {
        "total": found.total,
        "page": page,
        "page_size": page_size,
        "items": [reuse_summary(request, s) for s in found.items],
        "facets": {
            "type": [
                {"value": v, "label": type_label(v, languages(request)), "count": n}
                for v, n in found.facets["type"]
            ],
            "source": [
                {"value": v, "label": source_ref(request, v)["name"], "count": n}
                for v, n in found.facets["source"]
            ],
        },
    }
    return json_response(body, headers={"Link": page_links(request, page, page_size, found.total)})


@router.get(
    "/api/reuses/{id}",
    summary="One reuse with the datasets it uses",
    response_model=schemas.ReuseRecord,
    responses=NOT_FOUND,
)
def get_reuse(
    request: Request, id: Annotated[str, Path(description="fedcat's id of the reuse, as in /api/reuses.")]
) -> Response:
    reuses = Reuses(request.app.state.store)
    summary = reuses.summaries([id]).get(id)
    if summary is None:
        raise ApiError(404, f"no reuse with id {id!r}", "id")
    reuse: Reuse = summary["reuse"]
    # the reuse's own list, each with the fedcat record that holds it (null: not harvested by fedcat)
    by_ref: dict[str | None, str] = {}
    for dataset_id, dataset_uri, record in reuses.datasets_of(id):
        by_ref.setdefault(dataset_id or dataset_uri, record)
    body = {
        **reuse_summary(request, summary),
        "source": source_info(request, summary["source"]),
        "description": reuse.description,
        "topic": reuse.topic,
        "tags": reuse.tags,
        "created": reuse.created,
        "datasets": [
            {"id": d.id, "uri": d.uri, "title": d.title, "fedcat_id": by_ref.get(d.id or d.uri)}
            for d in reuse.datasets
        ],
        "source_record_id": summary["source_record_id"],
        "first_seen": summary["first_seen"],
        "last_seen": summary["last_seen"],
        "withdrawn_at": summary["withdrawn_at"],
    }
    return json_response(body)
