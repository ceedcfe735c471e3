"""Sources and harvests: `GET /api/sources`, `/api/harvests`, `/api/harvests/{run_id}`, and `/health`.

Reads the store, the backend and the config from `request.app.state` (set by `create_app`).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from ..config import Source
from ..redaction import redact_text, redact_url
from ..store import COUNTERS, Store
from . import schemas
from .errors import ERRORS, NOT_FOUND, ApiError, json_response

SQLITE_MAX_INT = 2**63 - 1  # ids are SQLite integers: a larger one is no run, not a server error

router = APIRouter()


def configured(request: Request) -> dict[str, Source]:
    """The config's sources by id (made once per app)."""
    state = request.app.state
    sources = getattr(state, "configured_sources", None)
    if sources is None:
        sources = state.configured_sources = {s.id: s for s in state.config.sources}
    return sources


def stored_sources(store: Store) -> dict[str, dict[str, Any]]:
    """Every source the store knows, including those since removed from the config."""
    return {s["id"]: s for s in store.sources()}


def source_ref(request: Request, source_id: str) -> dict[str, str]:
    source = configured(request).get(source_id)
    return {"id": source_id, "name": source.name if source else source_id}


def source_info(request: Request, source_id: str) -> dict[str, str]:
    """id, name, type and url: from the config, else from the store (harvested once, since removed)."""
    source = configured(request).get(source_id)
    if source is not None:
        return {"id": source.id, "name": source.name, "type": source.type, "url": redact_url(source.url)}
    stored = stored_sources(request.app.state.store).get(source_id, {})
    return {
        "id": source_id,
        "name": stored.get("name", source_id),
        "type": stored.get("type", ""),
        "url": redact_url(stored.get("url", "")),
    }


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": run["id"],
        "source_id": run["source_id"],
        "status": run["status"],
        "started_at": run["started_at"],
        "ended_at": run["ended_at"],
        "message": redact_text(run["message"]),
        "counts": {c: run[c] for c in ("pages", *COUNTERS)},
    }


@router.get(
    "/api/sources",
    summary="The federation's sources",
    response_model=list[schemas.SourceSummary],
    tags=["harvests"],
)
def list_sources(request: Request) -> Response:
    store: Store = request.app.state.store
    known = configured(request)
    stored = stored_sources(store)
    answer = []
    for source_id in sorted(set(known) | set(stored)):
        source, row = known.get(source_id), stored.get(source_id)
        last = store.runs(source_id, limit=1)
        if source is not None:
            info = {"id": source.id, "name": source.name, "type": source.type, "url": redact_url(source.url)}
            jurisdiction = (
                {"key": source.jurisdiction.key, "name": source.jurisdiction.name}
                if source.jurisdiction
                else None
            )
        else:
            assert row is not None  # the id came from one of the two
            info = {k: row[k] for k in ("id", "name", "type", "url")}
            info["url"] = redact_url(info["url"] or "")
            jurisdiction = {"key": row["jurisdiction"], "name": None} if row["jurisdiction"] else None
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
    return json_response(answer)


@router.get(
    "/api/harvests",
    summary="Harvest runs, newest first",
    response_model=list[schemas.RunSummary],
    responses={**ERRORS, 404: {"model": schemas.ErrorBody, "description": "Unknown source."}},
    tags=["harvests"],
)
def list_harvests(
    request: Request,
    source: Annotated[str | None, Query(description="Only the runs of this source id.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many runs (1 to 1000).")] = 50,
) -> Response:
    store: Store = request.app.state.store
    known = configured(request)
    if source is not None and source not in known and source not in stored_sources(store):
        raise ApiError(404, f"no source {source!r} (known: {', '.join(sorted(known))})", "source")
    return json_response([_run_summary(run) for run in store.runs(source, limit=limit)])


@router.get(
    "/api/harvests/{run_id}",
    summary="One harvest run's job report",
    response_model=schemas.RunReport,
    responses={**NOT_FOUND, **ERRORS},
    tags=["harvests"],
)
def get_harvest(
    request: Request, run_id: Annotated[int, Path(ge=1, le=SQLITE_MAX_INT, description="The run's number.")]
) -> Response:
    run = request.app.state.store.run(run_id)
    if run is None:
        raise ApiError(404, f"no harvest run {run_id}", "run_id")
    report = run["report"] or {}
    return json_response(
        {
            **_run_summary(run),
            "report": {
                "unmapped": report.get("unmapped", {}),
                # a note may quote an error naming a URL (a CKAN source's showcases that could not be read)
                "notes": [redact_text(str(note)) for note in report.get("notes", [])],
            },
            "errors": [
                {
                    **e,
                    "url": redact_url(e.get("url") or "") or None,
                    "error": redact_text(e.get("error") or ""),
                }
                for e in run["errors"]
            ],
        }
    )


@router.get("/health", summary="Liveness and size", response_model=schemas.Health, tags=["operations"])
def health(request: Request) -> Response:
    state = request.app.state
    search = state.backend.health()  # the Elasticsearch node's health and live generation
    status = "ok" if search.get("status") in ("ok", "green", "yellow") else "degraded"
    return json_response(
        {"status": status, "datasets": state.store.count(), "index": state.backend.name, "search": search}
    )
