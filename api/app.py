"""The HTTP API: `create_app(store, backend, config)` builds the FastAPI app from the routers.

No module state: the store, the search backend and the config hang off `app.state`, so tests and the CLI
build as many apps as they like. Each concern has its router module (datasets, harvests, quality, audit,
admin, linked data, SPARQL); errors have one type and one shape (`errors`), content negotiation one module
(`negotiation`), the search parameters one declaration (`params`).
"""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from ..config import Config
from ..indexer.backend import SearchBackend
from ..mappings import vocabularies
from ..store import Store
from ..web import install as install_web
from . import conventions
from .admin import router as admin_router
from .audit import router as audit_router
from .ckan import router as ckan_router
from .datasets import router as datasets_router
from .duplicates import router as duplicates_router
from .errors import install_handlers
from .harvests import router as harvests_router
from .linked_data import router as linked_data_router
from .params import reject_unknown_parameters
from .quality import router as quality_router
from .reuses import router as reuses_router
from .sparql import router as sparql_router
from .udata import router as udata_router


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
        "DCAT-AP 3.0, with their provenance, sources and harvest reports. Titles, descriptions and labels "
        "are given in the best language of `Accept-Language` (then French, then English). Errors are JSON: "
        '`{"detail": "...", "errors": [{"parameter": "...", "message": "..."}]}`.',
        dependencies=[Depends(reject_unknown_parameters)],
        lifespan=_lifespan,
        docs_url=None,  # /docs and /redoc come from web/, with their scripts served here, not from a CDN
        redoc_url=None,
    )
    app.state.store, app.state.backend, app.state.config = store, backend, config
    install_handlers(app)
    conventions.install(app, getattr(store, "path", None), config.settings.cors_origins)
    app.include_router(quality_router)
    app.include_router(duplicates_router)  # GET /api/duplicates: clusters, their evidence, source pairs
    app.include_router(audit_router)  # GET /api/audit: publication obligations per public body
    app.include_router(admin_router)  # POST /api/sources/{id}/harvest (bearer token), GET /metrics
    app.include_router(linked_data_router)  # /datasets/{id}, /catalog, /sources/{id}
    app.include_router(sparql_router)  # GET/POST /sparql
    app.include_router(datasets_router)  # /api/datasets, /api/datasets/{id}, /api/datasets/{id}/raw
    app.include_router(reuses_router)  # /api/reuses, /api/reuses/{id}
    app.include_router(ckan_router)  # /api/3/action/…: CKAN's read-only Action API
    app.include_router(udata_router)  # /api/1/…: udata's read API (datasets, organizations, site)
    app.include_router(harvests_router)  # /api/sources, /api/harvests, /health
    install_web(app)  # the pages for people (/, /sources, /quality, /audit…), /docs and /redoc
    return app
