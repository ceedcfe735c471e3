"""`type: ckan` — a CKAN portal (and DKAN, which copies its API) through the Action API.

The source `url` is the CKAN root. The adapter pages through `/api/3/action/package_search?rows=R&start=S`,
oldest first, advancing by the number of packages each page really holds (servers cap `rows`), one record per
package dict, stored as canonical JSON. CKAN answers errors with `"success": false`, sometimes with HTTP 200:
that is a HarvestError carrying CKAN's own message.

Then, unless `options.reuses` is false, the portal's showcases (ckanext-showcase): `ckanext_showcase_list`
(every showcase at once), and for each one `ckanext_showcase_package_list` (the packages it uses, named by
their ids), in pages of `kind` "reuses" (`store.reuses`). A portal without the extension answers that the
action is unknown: it has no reuses, and the run goes on as it was.

Incremental runs (`since` set): only the packages modified since then are fetched whole
(`fq=metadata_modified:[SINCE TO *]`), then every package id is listed cheaply (`fl=id`) so that the ones
left out are reported as unchanged and stay live. As with udata, a walk whose announced count changes, or that
ends before it, makes the run partial.
"""

from __future__ import annotations

import builtins
from collections.abc import Generator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode, urljoin

import msgspec

from ...config import SourceOptions, UntaggedLanguage
from ..http import FetchError, HarvestError
from .base import REUSES_OPTION, Adapter, Page
from .jsonapi import LazyArray, fetch_json, in_parts, json_record
from .udata import incomplete

T = TypeVar("T")
SORT = "metadata_created asc,id asc"  # stable offsets: new packages go last
# fedcat's clock and the portal's may differ: ask a little further back (re-fetched unchanged packages cost a
# download, not a re-normalisation: their payload hash is the same)
SINCE_MARGIN = timedelta(hours=1)


class CkanAdapter(Adapter):
    type = "ckan"

    class Options(SourceOptions):
        language: UntaggedLanguage | None = None
        reuses: Annotated[bool, msgspec.Meta(description=REUSES_OPTION)] = True

    def pages(self) -> Iterator[Page]:
        number = yield from self._packages()
        if self.source.options.get("reuses", True):
            try:
                yield from self._showcases(number)
            except HarvestError as exc:  # the packages were read: the showcases stay as they were
                self.notes.append(f"showcases not read to the end, none withdrawn: {exc}")

    def _showcases(self, number: int) -> Iterator[Page]:
        """The showcases, `page_size` a page, each with the ids of the packages it uses."""
        url = self._url("ckanext_showcase_list", {})
        try:
            showcases = self._action(url, list)
        except FetchError as exc:
            if exc.status in (400, 404):  # CKAN: "Action name not known": no showcase extension
                return
            raise
        complete = True
        for start in range(0, len(showcases), self.page_size):
            number += 1
            page = Page(url=url, number=number, total=len(showcases), kind="reuses")
            for showcase in showcases[start : start + self.page_size]:
                if not isinstance(showcase, dict) or not isinstance(showcase.get("id"), str):
                    page.errors.append((None, f"{url}: a showcase without an `id` was left out"))
                    continue
                listed = self._url("ckanext_showcase_package_list", {"showcase_id": showcase["id"]})
                try:
                    packages = self._action(listed, list)
                except HarvestError as exc:  # this one is not stored again; none is withdrawn
                    page.errors.append((showcase["id"], str(exc)))
                    complete = False
                    continue
                item = {
                    **showcase,
                    "datasets": [
                        {k: p.get(k) for k in ("id", "name", "title")}
                        for p in packages
                        if isinstance(p, dict)
                    ],
                }
                page.records.append(json_record(showcase["id"], item, listed, number))
            yield page
        self.reuses_complete = complete

    def _url(self, action: str, params: dict[str, Any]) -> str:
        query = "?" + urlencode(params) if params else ""
        return urljoin(self.source.url.rstrip("/") + "/", f"api/3/action/{action}{query}")

    def _packages(self) -> Generator[Page, None, int]:
        """Every page of packages; returns how many pages."""
        number = 0
        changed: set[str] = set()
        since = _solr_date(self.since) if self.since else None
        query = {"fq": f"metadata_modified:[{since} TO *]"} if since else {}
        for listing_url, listed, count in self._search(query):
            for url, results in in_parts(listing_url, listed):
                number += 1
                yield self._page(url, number, count, results, changed, listing_url)
        if since is None:
            return number
        for url, results, count in self._search({"fl": "id"}):
            number += 1
            ids = [r["id"] for r in results if isinstance(r, dict) and isinstance(r.get("id"), str)]
            yield Page(
                url=url, number=number, total=count, unchanged_ids=[i for i in ids if i not in changed]
            )
        return number

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
            page.records.append(json_record(package["id"], package, fetched, number))
        return page

    def _search(self, query: dict[str, str]) -> Iterator[tuple[str, Sequence[Any], int]]:
        """Every page of one package_search: (url, results, announced count)."""
        start = 0
        counts: list[int] = []
        seen: set[str] = set()
        url = ""
        while True:
            url = self._url("package_search", {**query, "rows": self.page_size, "start": start, "sort": SORT})
            result = self._action(url, dict)
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

    def _action(self, url: str, shape: builtins.type[T]) -> T:
        """The `result` of a CKAN action, of this shape (a dict, a list)."""
        _, body = fetch_json(self.client, url, records_at=("result", "results"))  # package_search's
        if not isinstance(body, dict) or "success" not in body:
            raise HarvestError(f"{url}: not a CKAN Action API response (no `success`)")
        if body["success"] is not True:
            raise HarvestError(f"{url}: CKAN error: {_error_message(body.get('error'))}")
        if not isinstance(body.get("result"), shape):
            raise HarvestError(f"{url}: CKAN answered without a `result` {shape.__name__}")
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
