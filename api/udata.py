"""A udata-compatible, read-only API under `/api/1/`, so udata portals' harvesters and udata clients (and
fedcat's own `udata` adapter) read the federation the way fedcat reads them.

`datasets/` pages like udata (`page`, `page_size`, `total`, `next_page`, `previous_page`, the items under
`data`), `datasets/{id}/` is one dataset, `organizations/` are fedcat's publishers (named by `compat.slug`),
`reuses/` and `reuses/{id}/` the reuses fedcat harvested (their datasets named by fedcat's ids), `site/`
the catalogue's counts. Keywords are tags, distributions resources; the dataset's IRI where it was
first published is `harvest.uri`, as udata gives a harvested dataset's origin.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from ..indexer.backend import MAX_PAGE_SIZE, MAX_RESULT_WINDOW, SearchQuery
from ..mappings.model import Dataset, text_in
from ..mappings.reuse import reuse_types
from ..store import Store
from ..store.federation import FederationTables
from ..store.reuses import Reuses
from . import compat
from .errors import ApiError, json_response
from .params import search_filters


class _UdataRoute(APIRoute):
    """A refused parameter (a wrong type, one this API does not take) answers udata's error shape,
    `{"message", "errors": {parameter: [message]}, "status"}`, as the other udata answers do."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def udata_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return _error(400, exc.message, {exc.parameter or "request": [exc.message]})
            except RequestValidationError as exc:
                errors: dict[str, list[str]] = {}
                for err in exc.errors():
                    errors.setdefault(str(err.get("loc", ("", "request"))[-1]), []).append(
                        str(err.get("msg"))
                    )
                return _error(400, "Input payload validation failed", errors)

        return udata_handler


router = APIRouter(tags=["udata-compatible API (read-only)"], route_class=_UdataRoute)

SORTS = {
    "-last_modified": "modified",
    "-last_update": "modified",
    "last_modified": "-modified",
    "last_update": "-modified",
}

Page = Annotated[int, Query(ge=1, description="Page number, from 1.")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Items per page, 1 to {MAX_PAGE_SIZE}.")]
Words = Annotated[str, Query(max_length=1000, description="Words to find.")]


def _error(status: int, message: str, errors: dict[str, list[str]] | None = None) -> Response:
    body: dict[str, Any] = {"message": message, "status": status}
    if errors:
        body["errors"] = errors
    return json_response(body, status)


def _too_deep(page: int, page_size: int) -> Response | None:
    if page * page_size > MAX_RESULT_WINDOW:
        return _error(400, f"page × page_size may not go past {MAX_RESULT_WINDOW}: narrow the search")
    return None


def _root(request: Request) -> str:
    root = request.scope.get("fedcat.root")
    if root is None:  # once per request, not per item
        root = request.scope["fedcat.root"] = str(request.base_url).rstrip("/")
    return str(root)


def _organization(
    request: Request, name: str, count: int | None = None, page: str | None = None
) -> dict[str, Any]:
    org_slug = compat.slug(name)
    org: dict[str, Any] = {
        "id": org_slug,
        "name": name,
        "slug": org_slug,
        "acronym": None,
        "uri": f"{_root(request)}/api/1/organizations/{org_slug}/",
        "page": page or f"{_root(request)}/api/1/organizations/{org_slug}/",
        "logo": None,
    }
    if count is not None:
        org["metrics"] = {"datasets": count}
    return org


def dataset(request: Request, fedcat_id: str, ds: Dataset) -> dict[str, Any]:
    """A record as a udata dataset object."""
    publisher = compat.publisher_name(ds)
    resources = []
    for position, dist in enumerate(ds.distributions):
        url = (dist.download_url or dist.access_url or [""])[0]
        resources.append(
            {
                "id": f"{fedcat_id}-{position}",
                "title": text_in(dist.title) or url,
                "description": text_in(dist.description) or None,
                "url": url,
                "type": "main",
                "format": compat.label(dist.format).lower() if dist.format else None,
                "mime": compat.media_type(dist.media_type),
                "filesize": dist.byte_size,
                "created_at": dist.issued,
                "last_modified": dist.modified,
            }
        )
    return {
        "id": fedcat_id,
        "slug": fedcat_id,
        "title": text_in(ds.title),
        "description": text_in(ds.description),
        "uri": f"{_root(request)}/api/1/datasets/{fedcat_id}/",
        "page": ds.landing_page[0] if ds.landing_page else f"{_root(request)}/datasets/{fedcat_id}",
        "license": ds.licence or ds.licence_text,
        "tags": [k.value for k in ds.keywords],
        "frequency": ds.accrual_periodicity,
        "created_at": ds.issued,
        "last_modified": ds.modified,
        "last_update": ds.modified,
        "organization": _organization(request, publisher, page=ds.publisher.uri if ds.publisher else None)
        if publisher
        else None,
        "owner": None,
        "private": False,
        "deleted": None,
        "resources": resources,
        # where the dataset comes from, as udata tells a harvested dataset's origin
        "harvest": {"uri": ds.original_uri or ds.uri, "backend": "fedcat"},
    }


def _page_url(request: Request, page: int) -> str:
    return str(request.url.include_query_params(page=page))


def _paged(request: Request, data: list[Any], page: int, page_size: int, total: int) -> dict[str, Any]:
    return {
        "data": data,
        "page": page,
        "page_size": page_size,
        "total": total,
        "next_page": _page_url(request, page + 1) if page * page_size < total else None,
        "previous_page": _page_url(request, page - 1) if page > 1 else None,
    }


@router.get(
    "/api/1/datasets/",
    summary="udata: search datasets",
    description="udata's dataset listing: `data`, `page`, `page_size`, `total`, `next_page`.",
)
def udata_datasets(
    request: Request,
    q: Words = "",
    tag: Annotated[list[str] | None, Query(description="Keep datasets with this tag (keyword).")] = None,
    organization: Annotated[
        str | None, Query(description="Keep this organization's datasets (id or slug).")
    ] = None,
    license: Annotated[str | None, Query(description="Keep datasets under this licence.")] = None,
    format: Annotated[str | None, Query(description="Keep datasets with a resource in this format.")] = None,
    sort: Annotated[
        str | None, Query(description="-last_modified (newest first), last_modified; else by relevance.")
    ] = None,
    page: Page = 1,
    page_size: PageSize = 20,
) -> Response:
    if too_deep := _too_deep(page, page_size):
        return too_deep
    publisher = None
    if organization:
        found = compat.organization(request, organization.strip())
        if found is None:
            return _error(400, f"organization: unknown organization {organization!r}")
        publisher = [found.value]
    filters = search_filters(
        keyword=tag,
        publisher=publisher,
        licence=[license] if license else None,
        format=[format] if format else None,
    )
    query = SearchQuery(
        q=q,
        filters=filters,
        sort=SORTS.get(sort or "", "relevance"),
        page=page,
        page_size=page_size,
        facets=(),
    )
    result = compat.search(request, query)
    data = [dataset(request, h.id, h.dataset) for h in result.hits]
    return json_response(_paged(request, data, page, page_size, result.total))


@router.get("/api/1/datasets/{id}/", summary="udata: one dataset")
def udata_dataset(request: Request, id: str) -> Response:
    store: Store = request.app.state.store
    record = store.record(id)
    if record is None or record["withdrawn_at"]:
        return _error(404, "Dataset not found")
    return json_response(dataset(request, record["id"], record["dataset"]))


@router.get("/api/1/organizations/", summary="udata: organizations (publishers)")
def udata_organizations(
    request: Request,
    q: Annotated[str, Query(max_length=1000, description="Words of the organization's name.")] = "",
    page: Page = 1,
    page_size: PageSize = 20,
) -> Response:
    found = compat.publishers(request, q)
    chosen = found[(page - 1) * page_size : page * page_size]
    data = [_organization(request, fv.value, fv.count) for fv in chosen]
    return json_response(_paged(request, data, page, page_size, len(found)))


@router.get("/api/1/organizations/{id}/", summary="udata: one organization")
def udata_organization(request: Request, id: str) -> Response:
    found = compat.organization(request, id)
    if found is None:
        return _error(404, "Organization not found")
    return json_response(_organization(request, found.value, found.count))


def reuse(request: Request, summary: dict[str, Any]) -> dict[str, Any]:
    """A stored reuse as a udata reuse object; its datasets by the fedcat records that hold them."""
    found, root, store = summary["reuse"], _root(request), request.app.state.store
    records = {
        ref_id or ref_uri: record for ref_id, ref_uri, record in Reuses(store).datasets_of(summary["id"])
    }
    # named as /api/1/datasets/ lists them: by their cluster (its canonical copy's id)
    clusters = FederationTables(store).clusters_of(list(records.values()))
    datasets: list[dict[str, Any]] = []
    for ref in found.datasets:
        record = records.get(ref.id or ref.uri)
        record = clusters.get(record, record) if record else None
        if record is not None and all(d["id"] != record for d in datasets):
            # udata lists the datasets it holds: the others are not fedcat's
            datasets.append(
                {
                    "id": record,
                    "title": ref.title,
                    "uri": f"{root}/api/1/datasets/{record}/",
                    "page": f"{root}/datasets/{record}",
                    "class": "Dataset",
                }
            )
    return {
        "id": summary["id"],
        "slug": summary["id"],
        "title": found.title,
        "type": found.type,
        "description": found.description,
        "url": found.url,
        "image": found.image,
        "tags": found.tags,
        "topic": found.topic,
        "created_at": found.created,
        "last_modified": found.modified,
        "organization": _organization(request, found.organization) if found.organization else None,
        "owner": None,
        "page": found.page or found.url,
        "uri": f"{root}/api/1/reuses/{summary['id']}/",
        "private": False,
        "deleted": None,
        "datasets": datasets,
    }


@router.get(
    "/api/1/reuses/",
    summary="udata: reuses",
    description="The reuses fedcat harvested, udata's listing: `data`, `page`, `page_size`, `total`, `next_page`.",
)
def udata_reuses(
    request: Request,
    q: Words = "",
    type: Annotated[str | None, Query(description="Keep reuses of this type.")] = None,
    dataset: Annotated[str | None, Query(description="Keep reuses of this dataset (fedcat's id).")] = None,
    sort: Annotated[
        str | None, Query(description="Accepted as udata's; the order is always newest first.")
    ] = None,
    page: Page = 1,
    page_size: PageSize = 20,
) -> Response:
    if too_deep := _too_deep(page, page_size):
        return too_deep
    if type and type not in reuse_types():
        return _error(400, f"type: unknown reuse type {type!r}", {"type": [", ".join(reuse_types())]})
    found = Reuses(request.app.state.store).search(
        q, [type] if type else [], [], dataset or None, (page - 1) * page_size, page_size
    )
    data = [reuse(request, summary) for summary in found.items]
    return json_response(_paged(request, data, page, page_size, found.total))


@router.get("/api/1/reuses/{id}/", summary="udata: one reuse")
def udata_reuse(request: Request, id: str) -> Response:
    summary = Reuses(request.app.state.store).summaries([id]).get(id)
    if summary is None or summary["withdrawn_at"]:
        return _error(404, "Reuse not found")
    return json_response(reuse(request, summary))


@router.get("/api/1/site/", summary="udata: the site and its counts")
def udata_site(request: Request) -> Response:
    result = compat.search(request, SearchQuery(page_size=1, facets=()))
    return json_response(
        {
            "id": "fedcat",
            "title": "fedcat",
            "url": _root(request),
            "metrics": {
                "datasets": result.total,
                "organizations": len(compat.publishers(request)),
                "reuses": Reuses(request.app.state.store).count(),
            },
        }
    )
