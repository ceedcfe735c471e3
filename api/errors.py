"""The API's one error type and one error shape.

Every refused request, from any router, answers JSON `{"detail": "...", "errors": [{"parameter": ...,
"message": ...}]}`, one status per class of error: 400 for any parameter the API refuses, whether its value
has the wrong type (FastAPI's validation, reworded) or is one the API understands but refuses (a bad date,
a page past the cap, an unknown facet, source or parameter: a client cannot tell those apart, so they are
one class); 404 for unknown ids or paths, 405 for a method a path does not take, 406 for a representation
it cannot give, and 500 only for bugs, which are logged. Routers raise `ApiError`; the few that answer a
`Response` directly (content negotiation, SPARQL) build it with `error_response`, the same shape.
"""

import logging
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..indexer.backend import SearchUnavailable
from . import schemas

log = logging.getLogger("fedcat.api")
_encoder = msgspec.json.Encoder()

# OpenAPI `responses=` entries shared by the routers
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": schemas.ErrorBody,
        "description": "A parameter was refused (wrong type, out of range, unknown value); `errors` names it.",
    },
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": schemas.ErrorBody, "description": "No such id."}}


class ApiError(Exception):
    """A refused request: becomes `{"detail": message, "errors": [{"parameter", "message"}]}`."""

    def __init__(self, status: int, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.parameter = status, message, parameter


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # A 100-item search page: msgspec 0.07 ms; pydantic response-model validation ~1.9 ms; FastAPI's
    # jsonable_encoder + json ~7 ms. The models in `schemas` document the shapes (and the tests check them).
    return Response(_encoder.encode(data), status_code=status, media_type="application/json", headers=headers)


def error_body(detail: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"detail": detail, "errors": errors}


def error_response(
    status: int, message: str, parameter: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The error shape as a response, for handlers that return rather than raise."""
    errors = [{"parameter": parameter, "message": message}] if parameter else []
    return json_response(error_body(message, errors), status, headers)


def install_handlers(app: FastAPI) -> None:
    """Turn every exception a request can end in into the one error shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return json_response(
            error_body(exc.message, [{"parameter": exc.parameter, "message": exc.message}]), exc.status
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
        return json_response(error_body(detail, errors), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        response = json_response(error_body(str(exc.detail), []), exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(SearchUnavailable)
    async def search_unavailable(request: Request, exc: SearchUnavailable) -> Response:
        # A remote search engine away or overloaded: say so and when to retry, never a 500.
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        message = f"search is unavailable for now, retry shortly ({exc})"
        return json_response(error_body(message, []), 503, {"Retry-After": "30"})

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return json_response(error_body("internal error: the server logged it", []), 500)
