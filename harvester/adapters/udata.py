"""`type: udata` — a udata portal (data.gouv.fr, data.public.lu, dados.gov.pt…) through its API v1.

The source `url` is the portal root. The adapter walks `/api/1/datasets/?page=N&page_size=M` by following
`next_page` (once per organization when `options.organizations` lists some), one record per dataset object,
stored as canonical JSON; then `/api/1/reuses/` the same way (unless `options.reuses` is false), one
reuse per object (pages of `kind` "reuses", stored by `store.reuses`). A reuse listing that cannot be read
(an older udata without it) leaves the run complete: the datasets were read, the reuses stay as they were. udata's listing cannot say what changed since a date, so every run reads every page;
the payload hash keeps unchanged datasets from being re-normalised.

A walk is only complete when it can be trusted to have listed everything: a total that changes between pages
(offsets shift, a dataset may be skipped) or a listing that stops short of its total makes the run partial.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator, Sequence
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urljoin

import msgspec

from ...config import SourceOptions, UntaggedLanguage
from ..http import HarvestError, resolve
from .base import REUSES_OPTION, Adapter, Page, Visited
from .jsonapi import FetchAhead, LazyArray, fetch_json, in_parts, json_record

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")  # udata ids are MongoDB ObjectIds


class UdataAdapter(Adapter):
    type = "udata"

    class Options(SourceOptions):
        organizations: (
            Annotated[
                list[Annotated[str, msgspec.Meta(min_length=1)]],
                msgspec.Meta(description="Harvest only these organizations (ids or slugs)."),
            ]
            | None
        ) = None
        language: UntaggedLanguage | None = None
        reuses: Annotated[bool, msgspec.Meta(description=REUSES_OPTION)] = True

    def pages(self) -> Iterator[Page]:
        problems = yield from self._walk("datasets")
        if self.source.options.get("reuses", True):
            try:
                reuse_problems = yield from self._walk("reuses")
            except HarvestError as exc:  # the datasets were read: the reuses stay as they were
                self.notes.append(f"reuses not read to the end, none withdrawn: {exc}")
            else:
                if reuse_problems:
                    self.notes.append(f"reuses: {'; '.join(reuse_problems)}; none withdrawn")
                else:
                    self.reuses_complete = True
        if problems:  # raised after the last page: everything readable was read, nothing is withdrawn
            raise HarvestError("; ".join(problems))

    def _walk(self, kind: str) -> Generator[Page, None, list[str]]:
        """Every page of the `kind` listings (datasets or reuses); returns why a listing that reached its
        end cannot be trusted to have listed everything, if it cannot."""
        visited = Visited()
        seen: set[str] = set()
        problems: list[str] = []
        number = 0
        ahead = FetchAhead()  # the next page is requested while the run maps and stores this one
        try:
            url: str | None  # the listing's next page, None at its end
            for url in self._listings(kind):
                first = url
                totals: list[int] = []
                listed: set[str] = set()
                while url:
                    visited.add(url)
                    data, total, next_url = _envelope(ahead.get(url, self._listing), url, kind)
                    if total is not None:
                        totals.append(total)
                    ids = {
                        item["id"]
                        for item in data
                        if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]
                    }
                    if ids and ids <= seen:
                        raise HarvestError(f"paging loop: {url} lists only {kind} already read in this run")
                    seen |= ids
                    listed |= ids
                    refused: HarvestError | None = None
                    current = url
                    try:  # an empty page ends the walk even if it links to another one
                        url = self._next(next_url, url) if data else None
                    except HarvestError as exc:  # raised once this page is stored: nothing read is lost
                        refused, url = exc, None
                    if url and url not in visited:  # a loop is caught below, before any request
                        ahead.prefetch(url, self._listing)
                    for part_url, part in in_parts(current, data):  # a large page: in parts
                        number += 1
                        page = Page(url=part_url, number=number, next_url=next_url, total=total, kind=kind)
                        self._records(page, part, current)
                        yield page
                    if refused:
                        raise refused
                if problem := incomplete(totals, len(listed), kind):
                    problems.append(f"{first}: {problem}")
        finally:
            ahead.close()
        return problems

    def _listing(self, url: str) -> Any:
        return fetch_json(self.client, url, records_at=("data",))[1]

    def _listings(self, kind: str) -> Iterator[str]:
        """The first page of each listing of `kind` to walk: the whole catalogue, or one per organization."""
        root = self.source.url.rstrip("/") + "/"
        query = {"page": 1, "page_size": self.page_size, "sort": "created"}  # oldest first: additions go last
        organizations = self.source.options.get("organizations")
        if organizations is None:
            yield urljoin(root, f"api/1/{kind}/") + "?" + urlencode(query)
            return
        if not isinstance(organizations, list) or not all(isinstance(o, str) for o in organizations):
            raise HarvestError("options.organizations must be a list of udata organization ids or slugs")
        for organization in organizations:
            yield (
                urljoin(root, f"api/1/{kind}/")
                + "?"
                + urlencode({**query, "organization": self._organization_id(root, organization)})
            )

    def _organization_id(self, root: str, organization: str) -> str:
        """udata filters datasets by organization id only: a slug is looked up once."""
        if OBJECT_ID.match(organization):
            return organization
        url = urljoin(root, f"api/1/organizations/{quote(organization, safe='')}/")
        _, body = fetch_json(self.client, url)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise HarvestError(f"{url}: not a udata organization (no `id`)")
        return body["id"]

    def _records(self, page: Page, data: Sequence[Any], fetched: str) -> None:
        for item in data:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
                page.errors.append((None, f"{fetched}: a {page.kind[:-1]} without an `id` was left out"))
                continue
            if item.get("private") or item.get("deleted"):
                continue  # listed to its owners only, or in the bin: not published
            page.records.append(json_record(item["id"], item, fetched, page.number))

    def _next(self, next_url: str | None, current: str) -> str | None:
        if not next_url:
            return None
        resolved = resolve(current, next_url)
        self.client.policy.check(resolved)
        return resolved


def incomplete(totals: list[int], read: int, kind: str = "datasets") -> str | None:
    """Why a walk that reached its end cannot be trusted to have listed everything, if it cannot."""
    if len(set(totals)) > 1:
        return (
            f"the announced total changed during the run ({totals[0]} → {totals[-1]}): {kind} may have "
            "shifted between pages and been skipped"
        )
    if totals and read < totals[-1]:
        return f"the listing ended after {read} of the {totals[-1]} {kind} it announced"
    return None


def _envelope(body: Any, url: str, kind: str = "datasets") -> tuple[Sequence[Any], int | None, str | None]:
    """The page's items, announced total and next link; a body of another shape is a HarvestError."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list | LazyArray):
        raise HarvestError(f"{url}: not a udata {kind[:-1]} listing (no `data` list)")
    total = body.get("total")
    next_page = body.get("next_page")
    return (
        body["data"],
        total if isinstance(total, int) and not isinstance(total, bool) else None,
        next_page if isinstance(next_page, str) and next_page.strip() else None,
    )
