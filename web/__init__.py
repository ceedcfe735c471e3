"""The web front end: server-rendered pages for people (search, datasets, sources, quality, audit), in
French and English, and the API documentation served offline.

`install(app)` adds the pages' router, the static files and the /docs and /redoc pages (their scripts from
the fastapi-offline package's static folder, not a CDN), and gives the linked-data routes the HTML renderers
of `/datasets/{id}` and `/sources/{id}` for browsers (through `app.state`, so api/ never imports web/).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from . import pages

STATIC = Path(__file__).parent / "static"
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"


# ReDoc's sidebar shows its logo from a CDN: served from here instead, so the page makes no outside request
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def _redoc_script() -> bytes:
    script = (DOCS_ASSETS / "redoc.standalone.js").read_text(encoding="utf-8")
    return script.replace(REDOC_LOGO, "/static/docs/favicon.png").encode("utf-8")


def install(app: FastAPI) -> None:
    redoc_script = _redoc_script()

    @app.get("/static/redoc.standalone.js", include_in_schema=False)
    def redoc_js() -> Response:
        return Response(
            redoc_script,
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount("/static/docs", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API reference",
            redoc_js_url="/static/redoc.standalone.js",
            redoc_favicon_url="/static/docs/favicon.png",
            with_google_fonts=False,
        )

    app.include_router(pages.router)
    app.state.html_pages = pages
