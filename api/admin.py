"""Admin endpoints: trigger a harvest; follow it with the public `GET /api/harvests/{run_id}`.

Write endpoints need `Authorization: Bearer <token>`, the token being `settings.admin_token` or
`$FEDCAT_ADMIN_TOKEN`; with no token configured they are disabled (403) whatever is sent. The comparison is
constant-time. They act through the harvest service of `fedcat run` (`app.state.harvester`); a process that
only serves (`fedcat serve`) answers 503. Read endpoints stay public.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
import hmac
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from ..harvester.pool import AlreadyRunning
from ..harvester.schedule import HarvestService, ShuttingDown
from .metrics import router as metrics_router

router = APIRouter(tags=["admin"])
router.include_router(metrics_router)  # GET /metrics: operations, public like the other reads
_encoder = msgspec.json.Encoder()


def _json(data: object, status: int = 200) -> Response:
    return Response(_encoder.encode(data), status_code=status, media_type="application/json")


def require_admin(
    request: Request,
    authorization: Annotated[str | None, Header(description="`Bearer <admin token>`")] = None,
) -> None:
    """The bearer token must match the configured one; no configured token disables write endpoints."""
    expected = request.app.state.config.settings.admin_token
    if not expected:
        raise HTTPException(
            403,
            "write endpoints are disabled: no admin token is configured "
            "(set settings.admin_token in the sources file or FEDCAT_ADMIN_TOKEN)",
        )
    scheme, _, given = (authorization or "").partition(" ")
    # compare_digest: the time taken does not tell how much of a guess was right
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8"), expected.encode("utf-8")
    ):
        raise HTTPException(
            401,
            "a valid admin token is required: Authorization: Bearer <token>",
            {"WWW-Authenticate": "Bearer"},
        )


def _harvester(request: Request) -> HarvestService:
    service = getattr(request.app.state, "harvester", None)
    if service is None:
        raise HTTPException(
            503, "this process only serves: harvests are triggered in the process started by `fedcat run`"
        )
    return service


@router.post(
    "/api/sources/{id}/harvest",
    summary="Harvest a source now",
    status_code=202,
    dependencies=[Depends(require_admin)],
    responses={
        202: {"description": "Queued: follow it at `links.run`."},
        401: {"description": "Missing or wrong bearer token."},
        403: {"description": "Write endpoints are disabled (no admin token configured)."},
        404: {"description": "No such source."},
        409: {"description": "The source already has a run queued or running (`run_id`)."},
        503: {"description": "This process does not harvest, or is shutting down."},
    },
)
def trigger_harvest(
    request: Request,
    id: Annotated[str, Path(description="The source's id, as in sources.yaml.")],
    full: Annotated[bool, Query(description="Ignore HTTP validators: fetch every page again.")] = False,
) -> Response:
    service = _harvester(request)
    try:
        run_id = service.trigger(id, full=full, reason="api")
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0] if exc.args else exc)) from None
    except AlreadyRunning as exc:
        running = service.running().get(id)
        body: dict[str, Any] = {"detail": str(exc), "errors": [], "run_id": running}
        if running is not None:
            body["links"] = {"run": f"/api/harvests/{running}"}
        return _json(body, 409)
    except ShuttingDown as exc:
        raise HTTPException(503, str(exc)) from None
    return _json(
        {"run_id": run_id, "source_id": id, "status": "running", "links": {"run": f"/api/harvests/{run_id}"}},
        202,
    )
