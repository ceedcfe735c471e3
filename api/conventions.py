"""HTTP conventions every route follows, as middleware (so no router has to remember them):

- `HEAD` answers on every `GET` route: the same status and headers, no body;
- validators: a whole (not streamed) `200` answer to a `GET` carries a weak `ETag` (a digest of its body)
  and a `Last-Modified` (when the store last changed: every answer is made from it), and a request whose
  `If-None-Match` (or, without one, `If-Modified-Since`) still holds gets a `304` without the body;
- `Cache-Control`: answers made from the catalogue may be reused for a minute, then revalidated; the
  harvest reports, health and metrics are always revalidated (they change by the second);
- gzip for answers over 1 KB to clients that accept it;
- CORS for the origins `settings.cors_origins` (or `$FEDCAT_CORS_ORIGINS`) lists (none: no cross-origin
  headers), preflights included.

Streamed answers (the SPARQL results, RDF of a whole catalogue page written as it is read) have no
`Content-Length` when they start: they pass through with `Cache-Control` only, never buffered.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

GZIP_MIN_BYTES = 1024
GZIP_LEVEL = (
    5  # Starlette's default 9: ~4x the CPU for 2-6 % fewer bytes on fedcat's answers (bench/conventions.py)
)
MAX_VALIDATED_BYTES = 16 << 20  # larger whole answers (a big raw record) are not held to be hashed
CATALOGUE_MAX_AGE = 60  # seconds a client or cache may reuse a search, document or catalogue page
ALWAYS_REVALIDATE = ("/api/harvests", "/api/sources", "/health", "/metrics")  # live state
CORS_EXPOSED = ["ETag", "Last-Modified", "Link", "X-Fedcat-Truncated", "Content-Location"]

Scope = dict[str, Any]
Message = dict[str, Any]


def install(app: FastAPI, store_path: Path | None, cors_origins: tuple[str, ...] = ()) -> None:
    """Add the conventions to the app (the last added runs first: CORS, then gzip, then validators)."""
    app.add_middleware(Validators, last_change=_store_clock(store_path))
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
            allow_headers=["Accept", "Authorization", "Content-Type", "If-None-Match", "If-Modified-Since"],
            expose_headers=CORS_EXPOSED,
            max_age=600,
        )


def _store_clock(store_path: Path | None) -> Callable[[], float | None]:
    """When the store last changed: the latest modification of its SQLite file and write-ahead log."""

    def last_change() -> float | None:
        if store_path is None:
            return None
        times = []
        for path in (store_path, store_path.with_name(store_path.name + "-wal")):
            try:
                times.append(os.stat(path).st_mtime)
            except OSError:
                continue
        return max(times) if times else None

    return last_change


class Validators:
    """HEAD, ETag / Last-Modified / 304 and Cache-Control (module docstring); pure ASGI."""

    def __init__(self, app: Any, last_change: Callable[[], float | None]) -> None:
        self.app, self.last_change = app, last_change

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:  # routes declare GET: answer HEAD as a GET whose body is not sent
            scope = {**scope, "method": "GET"}
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        changed = self.last_change()  # before the answer is made: never later than what it shows
        cache = _cache_control(scope["path"])
        start: Message | None = None
        body = bytearray()
        streaming = False

        async def reply(message: Message) -> None:
            nonlocal start, streaming
            if message["type"] == "http.response.start":
                start = message
                response_headers = dict(message.get("headers") or [])
                length = int(response_headers.get(b"content-length", b"-1"))
                if message["status"] != 200 or not 0 <= length <= MAX_VALIDATED_BYTES:
                    streaming = True  # an error, a stream or a large raw payload: passed on as it comes
                    await send(_with_headers(message, _default(response_headers, cache)))
                return
            if streaming:
                if not head:
                    await send(message)
                elif not message.get("more_body"):
                    await send({"type": "http.response.body", "body": b""})
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            assert start is not None
            await self._whole(start, bytes(body), headers, changed, cache, head, send)

        await self.app(scope, receive, reply)

    async def _whole(
        self,
        start: Message,
        body: bytes,
        request: dict[str, str],
        changed: float | None,
        cache: str,
        head: bool,
        send: Any,
    ) -> None:
        response_headers = dict(start.get("headers") or [])
        extra = _default(response_headers, cache)
        etag = response_headers.get(b"etag", b"").decode("latin-1")
        if not etag:
            etag = 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
            extra.append((b"etag", etag.encode("latin-1")))
        if changed is not None and b"last-modified" not in response_headers:
            extra.append((b"last-modified", formatdate(changed, usegmt=True).encode("latin-1")))
        if _not_modified(request, etag, changed):
            kept = [(k, v) for k, v in extra if k in (b"etag", b"last-modified", b"cache-control")]
            kept += [(k, v) for k, v in start.get("headers") or [] if k in (b"vary", b"content-location")]
            await send({"type": "http.response.start", "status": 304, "headers": kept})
            await send({"type": "http.response.body", "body": b""})
            return
        await send(_with_headers(start, extra))
        await send({"type": "http.response.body", "body": b"" if head else body})


def _cache_control(path: str) -> str:
    if path.startswith(ALWAYS_REVALIDATE):
        return "no-cache"
    return f"public, max-age={CATALOGUE_MAX_AGE}"


def _default(response_headers: dict[bytes, bytes], cache: str) -> list[tuple[bytes, bytes]]:
    """Cache-Control unless the route chose its own."""
    return [] if b"cache-control" in response_headers else [(b"cache-control", cache.encode("latin-1"))]


def _with_headers(start: Message, extra: list[tuple[bytes, bytes]]) -> Message:
    return {**start, "headers": [*(start.get("headers") or []), *extra]} if extra else start


def _not_modified(request: dict[str, str], etag: str, changed: float | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match (weak comparison) decides; If-Modified-Since only without it."""
    if "if-none-match" in request:
        wanted = {tag.strip().removeprefix("W/") for tag in request["if-none-match"].split(",")}
        return "*" in wanted or etag.removeprefix("W/") in wanted
    since = request.get("if-modified-since")
    if since and changed is not None:
        try:
            return int(changed) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False  # an unreadable date is ignored, as the RFC says
    return False


def page_links(request: Request, page: int, page_size: int, total: int, last_page: int | None = None) -> str:
    """RFC 8288 `Link` header of a paged JSON answer: first, prev, next, last, with the request's other
    parameters kept (`last_page` caps `last` where paging stops before the total)."""
    last = max(1, -(-total // page_size))
    if last_page is not None:
        last = min(last, last_page)
    others = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    base = str(request.url.replace(query=""))

    def url(number: int) -> str:
        return base + "?" + urlencode([*others, ("page", str(number))])

    links = [("first", 1)]
    if 1 < page <= last + 1:
        links.append(("prev", page - 1))
    if page < last:
        links.append(("next", page + 1))
    links.append(("last", last))
    return ", ".join(f'<{url(number)}>; rel="{rel}"' for rel, number in links)
