"""What every JSON portal adapter shares: fetching a JSON page safely and the canonical record payload."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..http import HarvestError, HttpClient, Response
from ..safety import check_json_depth

JSON = "application/json"


def fetch_json(client: HttpClient, url: str, *, conditional: bool = False) -> tuple[Response, Any]:
    """GET a JSON document: an HTML error page or invalid JSON is a HarvestError naming the URL."""
    response = client.get(url, accept="application/json", conditional=conditional)
    if response.not_modified:
        return response, None
    head = response.content[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise HarvestError(
            f"{url}: got an HTML page, not JSON (Content-Type {response.media_type or 'none'})"
        )
    check_json_depth(response.content, url=url)
    try:
        return response, json.loads(response.content)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HarvestError(f"{url}: not valid JSON: {exc}") from exc


def canonical_json(record: Any) -> bytes:
    """The stored payload of a JSON record: key order fixed so that its hash only changes with its content."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class FetchAhead:
    """The next request of the walk, sent while the run maps and stores the current page.

    Still one request at a time to the portal (politeness unchanged), but the portal's response time,
    often longer than fedcat's work on a page of 100 datasets, overlaps that work instead of adding to it.
    A response fetched ahead and then not needed (the walk ended or changed course) is dropped.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedcat-fetch-ahead")
        self._pending: dict[str, Future] = {}

    def prefetch(self, url: str, fetch: Callable[[str], Any]) -> None:
        if url not in self._pending:
            self._pending[url] = self._pool.submit(fetch, url)

    def get(self, url: str, fetch: Callable[[str], Any]) -> Any:
        future = self._pending.pop(url, None) or self._pool.submit(fetch, url)
        for other in self._pending.values():  # asked for something else: what was fetched ahead is stale
            other.cancel()
        self._pending.clear()
        return future.result()

    def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
