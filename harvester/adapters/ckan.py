"""`type: ckan` — a CKAN portal (and DKAN, which copies its API) through the Action API.

The source `url` is the CKAN root. The adapter pages through `/api/3/action/package_search?rows=R&start=S`,
oldest first, advancing by the number of packages each page really holds (servers cap `rows`), one record per
package dict, stored as canonical JSON. CKAN answers errors with `"success": false`, sometimes with HTTP 200:
that is a HarvestError carrying CKAN's own message.

Incremental runs (`since` set): only the packages modified since then are fetched whole
(`fq=metadata_modified:[SINCE TO *]`), then every package id is listed cheaply (`fl=id`) so that the ones
left out are reported as unchanged and stay live. As with udata, a walk whose announced count changes, or that
ends before it, makes the run partial.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urljoin

from ...config import SourceOptions, UntaggedLanguage
from ..http import HarvestError
from .base import Adapter, Page, RawRecord
from .jsonapi import JSON, LazyArray, canonical_json, fetch_json, in_parts
from .udata import incomplete

SORT = "metadata_created asc,id asc"  # stable offsets: new packages go last
# fedcat's clock and the portal's may differ: ask a little further back (re-fetched unchanged packages cost a
# download, not a re-normalisation: their payload hash is the same)
SINCE_MARGIN = timedelta(hours=1)


class CkanAdapter(Adapter):
    type = "ckan"

    class Options(SourceOptions):
        language: UntaggedLanguage | None = None

    def pages(self) -> Iterator[Page]:
        number = 0
        changed: set[str] = set()
        since = _solr_date(self.since) if self.since else None
        query = {"fq": f"metadata_modified:[{since} TO *]"} if since else {}
        for listing_url, listed, count in self._search(query):
            for url, results in in_parts(listing_url, listed):
                number += 1
                yield self._page(url, number, count, results, changed, listing_url)
        if since is None:
            return
        for url, results, count in self._search({"fl": "id"}):
            number += 1
            ids = [r["id"] for r in results if isinstance(r, dict) and isinstance(r.get("id"), str)]
            yield Page(
                url=url, number=number, total=count, unchanged_ids=[i for i in ids if i not in changed]
            )

    def _page(
        self, url: str, number: int, count: int, results: Sequence[Any], changed: set[str], fetched: str
    ) -> Page:
        page = Page(url=url, number=number, total=count)
        for package in results:
            if not isinstance(package, dict) or not isinstance(package.get("id"), str):
                page.errors.append((None, f"{url}: a package without an `id` was left out"))
                continue
            changed.add(package["id"])
            if str(package.get("state") or "active").lower() in ("deleted", "draft"):
                continue
            page.records.append(
                RawRecord(
                    source_record_id=package["id"],
                    payload=canonical_json(package),
                    media_type=JSON,
                    fetch_url=fetched,
                    page=number,
                    parsed=package,
                )
            )
        return page

    def _search(self, query: dict[str, str]) -> Iterator[tuple[str, Sequence[Any], int]]:
        """Every page of one package_search: (url, results, announced count)."""
        start = 0
        counts: list[int] = []
        seen: set[str] = set()
        url = ""
        while True:
            params = {**query, "rows": self.page_size, "start": start, "sort": SORT}
            url = urljoin(
                self.source.url.rstrip("/") + "/", "api/3/action/package_search?" + urlencode(params)
            )
            result = self._action(url)
            results, count = result.get("results"), result.get("count")
            if (
                not isinstance(results, list | LazyArray)
                or not isinstance(count, int)
                or isinstance(count, bool)
            ):
                raise HarvestError(f"{url}: not a package_search result (no `count` and `results` list)")
            counts.append(count)
            ids = {r["id"] for r in results if isinstance(r, dict) and isinstance(r.get("id"), str)}
            if ids and ids <= seen:  # a server that ignores `start` would otherwise be walked to `count`
                raise HarvestError(f"paging loop: {url} lists only packages already read in this run")
            seen |= ids
            yield url, results, count
            start += len(results)
            if not results or start >= count:
                break
        if problem := incomplete(counts, start):
            raise HarvestError(f"{url}: {problem}")

    def _action(self, url: str) -> dict[str, Any]:
        _, body = fetch_json(self.client, url, records_at=("result", "results"))
        if not isinstance(body, dict) or "success" not in body:
            raise HarvestError(f"{url}: not a CKAN Action API response (no `success`)")
        if body["success"] is not True:
            raise HarvestError(f"{url}: CKAN error: {_error_message(body.get('error'))}")
        if not isinstance(body.get("result"), dict):
            raise HarvestError(f"{url}: CKAN answered without a `result` object")
        return body["result"]


def _solr_date(since: str) -> str | None:
    """`since` (ISO 8601) minus the margin, as Solr writes UTC dates; None when it is not a date."""
    try:
        moment = datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment.astimezone(UTC) - SINCE_MARGIN).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error_message(error: Any) -> str:
    """CKAN's error: {"__type": "Validation Error", "message": …} or field errors {"rows": ["…"]}."""
    if not isinstance(error, dict):
        return str(error or "no message")
    kind = error.get("__type")
    message = error.get("message")
    if not message:
        details = [
            f"{key}: {'; '.join(map(str, value)) if isinstance(value, list) else value}"
            for key, value in error.items()
            if key != "__type"
        ]
        message = ", ".join(details) or "no message"
    return f"{kind}: {message}" if kind else str(message)
