"""The JSON API: dataset search with facets, dataset records with provenance, sources and harvest reports.

Everything hangs off `create_app(store, backend, config)`: no module state, so tests and the CLI build as
many apps as they like. The search backend only answers ids, totals and facet counts; every item is read
from the store (the source of truth), in the backend's order.

Errors always come back as JSON `{"detail": "...", "errors": [{"parameter": ..., "message": ...}]}`: 400 for
a value the API understands but refuses (a bad date, a page past the cap, an unknown facet or parameter),
422 for a value of the wrong type (FastAPI's validation, reworded), 404 for unknown ids, and 500 only for
bugs, which are logged.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
import gc
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..harvester.sources import Config, Source
from ..indexer.backend import FACETS, MAX_PAGE_SIZE, MAX_RESULT_WINDOW, SORTS, SearchBackend, SearchQuery
from ..indexer.store import COUNTERS, Store
from ..mappings import vocabularies
from ..mappings.model import Dataset, Text, text_in
from ..web import install as install_web
from . import schemas
from .admin import router as admin_router
from .audit import router as audit_router
from .linked_data import router as linked_data_router
from .quality import dataset_quality_json
from .quality import router as quality_router

log = logging.getLogger("fedcat.api")

Sort = Literal["relevance", "modified", "-modified"]
assert set(Sort.__args__) == set(SORTS), "keep the API's sort values in step with the backend's SORTS"

_DATE_PARAM = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_ERRORS = {
    400: {"model": schemas.ErrorBody, "description": "A parameter value was refused; `errors` names it."},
    422: {"model": schemas.ErrorBody, "description": "A parameter has the wrong type or is out of range."},
}
_NOT_FOUND = {404: {"model": schemas.ErrorBody, "description": "No such id."}}
_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """A refused request: becomes `{"detail": message, "errors": [{"parameter", "message"}]}`."""

    def __init__(self, status: int, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.parameter = status, message, parameter


def _json(data: Any, status: int = 200) -> Response:
    # A 100-item search page: msgspec 0.07 ms; pydantic response-model validation ~1.9 ms; FastAPI's
    # jsonable_encoder + json ~7 ms. The models in `schemas` document the shapes (and the tests check them).
    return Response(_encoder.encode(data), status_code=status, media_type="application/json")


def _error_body(detail: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"detail": detail, "errors": errors}


@lru_cache(maxsize=65536)
def _label(value: str) -> str:
    """A controlled URI's human label; a literal (an unmapped format, a publisher name) is its own label."""
    if value.startswith(("http://", "https://", "urn:")):
        return vocabularies.label(value)
    return value


def _labelled(value: str) -> dict[str, str]:
    return {"value": value, "label": _label(value)}


def _i18n(texts: list[Text]) -> list[dict[str, str | None]]:
    return [{"value": t.value, "lang": t.lang} for t in texts]


def _date_param(name: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    match = _DATE_PARAM.match(value)
    valid = False
    if match:
        try:
            date(int(match[1]), int(match[2] or 1), int(match[3] or 1))
            valid = True
        except ValueError:
            pass
    if not valid:
        raise ApiError(400, f"{name} must be a date YYYY-MM-DD (or YYYY-MM, or YYYY), got {value!r}", name)
    return value


def _facets_param(values: list[str] | None) -> tuple[str, ...]:
    if values is None:
        return FACETS
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in FACETS]
    if unknown:
        raise ApiError(
            400,
            f"facets: unknown facet {', '.join(map(repr, unknown))}; facets are {', '.join(FACETS)}",
            "facets",
        )
    return tuple(dict.fromkeys(names))


def _filter_param(facet: str, what: str) -> Any:
    return Query(
        description=f"Keep datasets whose {facet} is {what}. Repeat the parameter to accept any of "
        "several values (OR); different filters combine with AND. Values are those of the "
        f"`{facet}` facet.",
    )


DatasetId = Annotated[str, Path(description="fedcat's id of the record, as in search results.")]


async def _reject_unknown_parameters(request: Request) -> None:
    """A misspelt filter (`?themes=`) would otherwise be ignored and silently widen the results.

    async: a trivial check, not worth a thread-pool hop per request.
    """
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    known = {p.alias for p in dependant.query_params}
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        raise ApiError(
            400,
            f"unknown parameter {', '.join(map(repr, unknown))} (this endpoint accepts: {accepted})",
            unknown[0],
        )


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": run["id"],
        "source_id": run["source_id"],
        "status": run["status"],
        "started_at": run["started_at"],
        "ended_at": run["ended_at"],
        "message": run["message"],
        "counts": {c: run[c] for c in ("pages", *COUNTERS)},
    }


def _record_labels(ds: Dataset) -> dict[str, str]:
    uris = [*ds.themes, *ds.language, ds.licence, ds.accrual_periodicity, ds.access_rights]
    for dist in ds.distributions:
        uris.extend((dist.format, dist.licence, *dist.language))
    return {u: _label(u) for u in uris if u and u.startswith(("http://", "https://"))}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Server start-up: load the vocabularies now rather than on the first request, then freeze the heap.

    Every search decodes its hits' datasets (thousands of short-lived objects at page_size 100), which keeps
    triggering full collections; over an unfrozen heap of modules and vocabularies each one took ~40 ms and
    set the p95 (bench/api.py). Frozen objects are still freed by reference counting.
    """
    vocabularies.label("urn:fedcat:warm-up")
    gc.collect()
    gc.freeze()
    yield


def create_app(store: Store, backend: SearchBackend, config: Config) -> FastAPI:
    """The API over one store, one search backend and the federation's config."""
    app = FastAPI(
        title="fedcat",
        version="0.1.0",
        description="Search and read the datasets fedcat harvests from open-data portals, normalised to "
        "DCAT-AP 3.0, with their provenance, sources and harvest reports. Errors are JSON: "
        '`{"detail": "...", "errors": [{"parameter": "...", "message": "..."}]}`.',
        dependencies=[Depends(_reject_unknown_parameters)],
        lifespan=_lifespan,
        docs_url=None,  # /docs and /redoc come from web/, with their scripts served here, not from a CDN
        redoc_url=None,
    )
    app.state.store, app.state.backend, app.state.config = store, backend, config
    app.include_router(quality_router)
    app.include_router(audit_router)  # GET /api/audit: publication obligations per public body
    app.include_router(admin_router)  # POST /api/sources/{id}/harvest (bearer token), GET /metrics
    app.include_router(linked_data_router)  # /datasets/{id}, /catalog, /sources/{id}, /sparql
    install_web(app)  # the pages for people (/, /sources, /quality, /audit…), /docs and /redoc
    configured: dict[str, Source] = {s.id: s for s in config.sources}
    jurisdiction_names = {
        s.jurisdiction.key: s.jurisdiction.name or s.jurisdiction.key
        for s in config.sources
        if s.jurisdiction
    }

    def stored_sources() -> dict[str, dict[str, Any]]:
        return {s["id"]: s for s in store.sources()}

    def source_ref(source_id: str) -> dict[str, str]:
        source = configured.get(source_id)
        return {"id": source_id, "name": source.name if source else source_id}

    def facet_label(facet: str, value: str) -> str:
        if facet == "source":
            return source_ref(value)["name"]
        if facet == "jurisdiction":
            return jurisdiction_names.get(value, value)
        if facet in ("publisher", "keyword"):
            return value
        return _label(value)

    def summary(fedcat_id: str, source_id: str, ds: Dataset) -> dict[str, Any]:
        return {
            "id": fedcat_id,
            "uri": ds.uri,
            "title": text_in(ds.title),
            "description": text_in(ds.description),
            "title_i18n": _i18n(ds.title),
            "description_i18n": _i18n(ds.description),
            "publisher": (text_in(ds.publisher.name) or None) if ds.publisher else None,
            "themes": [_labelled(t) for t in ds.themes],
            "formats": [_labelled(f) for f in dict.fromkeys(d.format for d in ds.distributions if d.format)],
            "licence": _labelled(ds.licence) if ds.licence else None,
            "keywords": [k.value for k in ds.keywords],
            "modified": ds.modified,
            "issued": ds.issued,
            "landing_page": ds.landing_page[0] if ds.landing_page else None,
            "source": source_ref(source_id),
        }

    # --- errors ------------------------------------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _json(
            _error_body(exc.message, [{"parameter": exc.parameter, "message": exc.message}]), exc.status
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for err in exc.errors():
            loc = [str(part) for part in err.get("loc", ())]
            parameter = loc[1] if len(loc) > 1 and loc[0] in ("query", "path", "header") else ".".join(loc)
            message = str(err.get("msg", "invalid value"))
            if "input" in err and isinstance(err["input"], str | int | float):
                message += f" (got {err['input']!r})"
            errors.append({"parameter": parameter, "message": message})
        detail = "invalid parameter(s): " + "; ".join(f"{e['parameter']}: {e['message']}" for e in errors)
        return _json(_error_body(detail, errors), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        response = _json(_error_body(str(exc.detail), []), exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return _json(_error_body("internal error: the server logged it", []), 500)

    # --- datasets ----------------------------------------------------------------------------------------

    @app.get(
        "/api/datasets",
        summary="Search datasets",
        response_model=schemas.DatasetsPage,
        responses=_ERRORS,
        tags=["datasets"],
    )
    def search_datasets(
        q: Annotated[
            str,
            Query(
                max_length=1000,
                description="Words to find in titles, descriptions, keywords and publisher names; every "
                "word must match. Case, accents and French/English plurals are ignored ('velo' finds "
                "'Vélos'). Empty: every dataset.",
            ),
        ] = "",
        publisher: Annotated[list[str] | None, _filter_param("publisher", "this name")] = None,
        theme: Annotated[
            list[str] | None, _filter_param("theme", "this EU data-theme URI (e.g. ...data-theme/TRAN)")
        ] = None,
        format: Annotated[
            list[str] | None,
            _filter_param("format", "this EU file-type URI (or the source's own label when unmapped)"),
        ] = None,
        licence: Annotated[list[str] | None, _filter_param("licence", "this licence URI")] = None,
        keyword: Annotated[
            list[str] | None, _filter_param("keyword", "this keyword (case-insensitive)")
        ] = None,
        source: Annotated[list[str] | None, _filter_param("source", "this source id")] = None,
        language: Annotated[list[str] | None, _filter_param("language", "this EU language URI")] = None,
        jurisdiction: Annotated[
            list[str] | None,
            _filter_param("jurisdiction", "this jurisdiction (level:code, e.g. commune:59350)"),
        ] = None,
        quality: Annotated[
            list[str] | None,
            _filter_param("quality", "this metadata quality rating (excellent, good, sufficient, bad)"),
        ] = None,
        modified_after: Annotated[
            str | None,
            Query(
                description="Keep datasets modified on or after this date: YYYY-MM-DD, or YYYY-MM / YYYY "
                "for the start of that month or year.",
                examples=["2023-01-01"],
            ),
        ] = None,
        modified_before: Annotated[
            str | None,
            Query(
                description="Keep datasets modified on or before this date: YYYY-MM-DD, or YYYY-MM / YYYY "
                "for the end of that month or year (2020 includes 2020-12-31).",
                examples=["2024-12-31"],
            ),
        ] = None,
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
                ge=1,
                le=MAX_PAGE_SIZE,
                description=f"Datasets per page, 1 to {MAX_PAGE_SIZE}. page × page_size may not exceed "
                f"{MAX_RESULT_WINDOW}: deeper results are for the catalogue export.",
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
                "filters, or read the whole catalogue from the export",
                "page",
            )
        filters = search_filters(
            publisher=publisher,
            theme=theme,
            format=format,
            licence=licence,
            keyword=keyword,
            source=source,
            language=language,
            jurisdiction=jurisdiction,
            quality=quality,
        )
        query = SearchQuery(
            q=q,
            filters=filters,
            modified_after=_date_param("modified_after", modified_after),
            modified_before=_date_param("modified_before", modified_before),
            sort=sort,
            page=page,
            page_size=page_size,
            facets=_facets_param(facets),
        )
        try:
            result = backend.search(query)
        except ValueError as exc:  # the backend's own check of the query; ours above should catch all
            log.warning("search refused by the backend: %s", exc)
            raise ApiError(400, str(exc)) from exc
        found = store.datasets(result.ids)
        items = []
        for fedcat_id in result.ids:
            hit = found.get(fedcat_id)
            if hit is None:
                # index ahead of the store (or a record removed by hand): the next sync repairs it
                log.warning("search hit %s is not in the store; skipped", fedcat_id)
                continue
            items.append(summary(fedcat_id, hit["source_id"], hit["dataset"]))
        return _json(
            {
                "total": result.total,
                "page": page,
                "page_size": page_size,
                "items": items,
                "facets": {
                    name: [
                        {"value": fv.value, "label": facet_label(name, fv.value), "count": fv.count}
                        for fv in values
                    ]
                    for name, values in result.facets.items()
                },
            }
        )

    @app.get(
        "/api/datasets/{id}",
        summary="One dataset with its provenance",
        response_model=schemas.DatasetRecord,
        responses=_NOT_FOUND,
        tags=["datasets"],
    )
    def get_dataset(id: DatasetId) -> Response:
        record = store.record(id)
        if record is None:
            raise ApiError(404, f"no dataset with id {id!r}", "id")
        source_id = record["source_id"]
        source = configured.get(source_id)
        if source is not None:
            source_info = {"id": source.id, "name": source.name, "type": source.type, "url": source.url}
        else:  # harvested once, since removed from the config: the store still knows it
            stored = stored_sources().get(source_id, {})
            source_info = {
                "id": source_id,
                "name": stored.get("name", source_id),
                "type": stored.get("type", ""),
                "url": stored.get("url", ""),
            }
        ds: Dataset = record["dataset"]
        body = {
            "id": record["id"],
            "dataset": msgspec.to_builtins(ds),
            "labels": _record_labels(ds),
            "quality": dataset_quality_json(store, record["id"], ds),
            "source": source_info,
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
        return _json(body)

    @app.get(
        "/api/datasets/{id}/raw",
        summary="The raw record as harvested",
        description="The payload exactly as fetched from the source (for DCAT sources, the dataset's "
        "triples as N-Triples), with its stored media type.",
        responses={200: {"content": {"*/*": {}}}, **_NOT_FOUND},
        response_class=Response,
        tags=["datasets"],
    )
    def get_raw(id: DatasetId) -> Response:
        raw = store.raw(id)
        if raw is None:
            raise ApiError(404, f"no dataset with id {id!r}", "id")
        payload, media_type = raw
        # harvested bytes served from our origin: never let a browser run them as a page
        return Response(
            payload,
            media_type=media_type,
            headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
        )

    # --- sources and harvests ----------------------------------------------------------------------------

    @app.get(
        "/api/sources",
        summary="The federation's sources",
        response_model=list[schemas.SourceSummary],
        tags=["harvests"],
    )
    def list_sources() -> Response:
        stored = stored_sources()
        answer = []
        for source_id in sorted(set(configured) | set(stored)):
            source, row = configured.get(source_id), stored.get(source_id)
            last = store.runs(source_id, limit=1)
            if source is not None:
                info = {"id": source.id, "name": source.name, "type": source.type, "url": source.url}
                jurisdiction = (
                    {"key": source.jurisdiction.key, "name": source.jurisdiction.name}
                    if source.jurisdiction
                    else None
                )
            else:
                info = {k: row[k] for k in ("id", "name", "type", "url")}  # type: ignore[index]
                jurisdiction = {"key": row["jurisdiction"], "name": None} if row["jurisdiction"] else None  # type: ignore[index]
            answer.append(
                {
                    **info,
                    "jurisdiction": jurisdiction,
                    "schedule": source.schedule if source else None,
                    "enabled": source.enabled if source else False,
                    "configured": source is not None,
                    "datasets": row["datasets"] if row else 0,
                    "last_run": _run_summary(last[0]) if last else None,
                }
            )
        return _json(answer)

    @app.get(
        "/api/harvests",
        summary="Harvest runs, newest first",
        response_model=list[schemas.RunSummary],
        responses={**_ERRORS, 404: {"model": schemas.ErrorBody, "description": "Unknown source."}},
        tags=["harvests"],
    )
    def list_harvests(
        source: Annotated[str | None, Query(description="Only the runs of this source id.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="At most this many runs (1 to 1000).")] = 50,
    ) -> Response:
        if source is not None and source not in configured and source not in stored_sources():
            raise ApiError(404, f"no source {source!r} (known: {', '.join(sorted(configured))})", "source")
        return _json([_run_summary(run) for run in store.runs(source, limit=limit)])

    @app.get(
        "/api/harvests/{run_id}",
        summary="One harvest run's job report",
        response_model=schemas.RunReport,
        responses={**_NOT_FOUND, 422: _ERRORS[422]},
        tags=["harvests"],
    )
    def get_harvest(run_id: Annotated[int, Path(description="The run's number.")]) -> Response:
        run = store.run(run_id)
        if run is None:
            raise ApiError(404, f"no harvest run {run_id}", "run_id")
        report = run["report"] or {}
        return _json(
            {
                **_run_summary(run),
                "report": {"unmapped": report.get("unmapped", {}), "notes": report.get("notes", [])},
                "errors": run["errors"],
            }
        )

    @app.get("/health", summary="Liveness and size", response_model=schemas.Health, tags=["operations"])
    def health() -> Response:
        return _json({"status": "ok", "datasets": store.count(), "index": backend.name})

    return app


def search_filters(**parameters: list[str] | None) -> dict[str, list[str]]:
    """Facet filters from request parameters, as the index holds their values (keywords and rating bands
    lowercased); shared by the search API and the filtered catalogue."""
    filters = {}
    for facet, values in parameters.items():
        if values and facet in FACETS:
            cleaned = _clean([v.lower() for v in values] if facet in ("keyword", "quality") else values)
            if cleaned:
                filters[facet] = cleaned
    return filters


def _clean(values: list[str]) -> list[str]:
    """Trimmed, non-empty, distinct: `theme=` alone constrains nothing."""
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))
