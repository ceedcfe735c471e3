"""What every JSON portal adapter shares: fetching a JSON page safely and the canonical record payload."""

from __future__ import annotations

import json
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
