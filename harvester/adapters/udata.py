"""`type: udata` — a udata portal (data.gouv.fr, data.public.lu, dados.gov.pt…) through its API v1.

The source `url` is the portal root. The adapter walks `/api/1/datasets/?page=N&page_size=M` by following
`next_page` (once per organization when `options.organizations` lists some), one record per dataset object,
stored as canonical JSON. udata's listing cannot say what changed since a date, so every run reads every page;
the payload hash keeps unchanged datasets from being re-normalised.

A walk is only complete when it can be trusted to have listed everything: a total that changes between pages
(offsets shift, a dataset may be skipped) or a listing that stops short of its total makes the run partial.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urljoin

import msgspec

from ...config import SourceOptions, UntaggedLanguage
from ...mappings import normalise
from ...mappings.fieldmap import FieldMap, fieldmap
from ...mappings.geometry import bbox_wkt, geojson_bbox, geojson_wkt
from ...mappings.model import (
    Agent,
    Checksum,
    ContactPoint,
    Dataset,
    Distribution,
    Location,
    PeriodOfTime,
    Text,
)
from ...mappings.namespaces import SPDX
from ...mappings.values import ValueMapper, is_iri
from ..http import HarvestError
from .base import Adapter, Page, RawRecord, Visited
from .jsonapi import JSON, FetchAhead, canonical_json, fetch_json

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")  # udata ids are MongoDB ObjectIds


def _unique(values: list[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


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

    def pages(self) -> Iterator[Page]:
        visited = Visited()
        seen: set[str] = set()
        problems: list[str] = []
        number = 0
        ahead = FetchAhead()  # the next page is requested while the run maps and stores this one
        try:
            for url in self._listings():
                first = url
                totals: list[int] = []
                listed: set[str] = set()
                while url:
                    visited.add(url)
                    number += 1
                    data, total, next_url = _envelope(ahead.get(url, self._listing), url)
                    if total is not None:
                        totals.append(total)
                    page = Page(url=url, number=number, next_url=next_url, total=total)
                    ids = self._records(page, data)
                    if ids and ids <= seen:
                        raise HarvestError(f"paging loop: {url} lists only datasets already read in this run")
                    seen |= ids
                    listed |= ids
                    refused: HarvestError | None = None
                    try:  # an empty page ends the walk even if it links to another one
                        url = self._next(next_url, url) if data else None
                    except HarvestError as exc:  # raised once this page is stored: nothing read is lost
                        refused, url = exc, None
                    if url and url not in visited:  # a loop is caught below, before any request
                        ahead.prefetch(url, self._listing)
                    yield page
                    if refused:
                        raise refused
                if problem := incomplete(totals, len(listed)):
                    problems.append(f"{first}: {problem}")
        finally:
            ahead.close()
        if problems:  # raised after the last page: everything readable was read, nothing is withdrawn
            raise HarvestError("; ".join(problems))

    def _listing(self, url: str) -> Any:
        return fetch_json(self.client, url)[1]

    def _listings(self) -> Iterator[str]:
        """The first page of each listing to walk: the whole catalogue, or one per organization."""
        root = self.source.url.rstrip("/") + "/"
        query = {"page": 1, "page_size": self.page_size, "sort": "created"}  # oldest first: additions go last
        organizations = self.source.options.get("organizations")
        if organizations is None:
            yield urljoin(root, "api/1/datasets/") + "?" + urlencode(query)
            return
        if not isinstance(organizations, list) or not all(isinstance(o, str) for o in organizations):
            raise HarvestError("options.organizations must be a list of udata organization ids or slugs")
        for organization in organizations:
            yield (
                urljoin(root, "api/1/datasets/")
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

    def _records(self, page: Page, data: list[Any]) -> set[str]:
        ids: set[str] = set()
        for item in data:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
                page.errors.append((None, f"{page.url}: a dataset without an `id` was left out"))
                continue
            ids.add(item["id"])
            if item.get("private") or item.get("deleted"):
                continue  # listed to its owners only, or in the bin: not published
            page.records.append(
                RawRecord(
                    source_record_id=item["id"],
                    payload=canonical_json(item),
                    media_type=JSON,
                    fetch_url=page.url,
                    page=page.number,
                    parsed=item,
                )
            )
        return ids

    def _next(self, next_url: str | None, current: str) -> str | None:
        if not next_url:
            return None
        resolved = urljoin(current, next_url)
        self.client.policy.check(resolved)
        return resolved

    def to_dataset(self, record: RawRecord, uri: str) -> Dataset:
        item = record.parsed if record.parsed is not None else json.loads(record.payload)
        values = ValueMapper()
        fields = fieldmap("udata")
        lang = self.source.options.get("language")  # udata does not tag its texts; a source may say
        found = fields.apply("dataset", item, values, lang)
        harvest = item.get("harvest") if isinstance(item.get("harvest"), dict) else {}
        tags = [t for t in item.get("tags") or () if isinstance(t, str) and t.strip()]
        keywords = found.pop("keywords", [])
        if isinstance(item.get("acronym"), str) and item["acronym"].strip():
            keywords.append(Text(item["acronym"].strip(), lang))  # DCAT has no acronym: searchable this way
        licence = found.get("licence")
        landing_page = _unique([_iri(harvest.get("remote_url")), *found.pop("landing_page", [])])
        return Dataset(
            uri=uri,
            # identity as udata's own DCAT export gives it: the origin's URI and dct:identifier when the
            # dataset was harvested from another portal, udata's own otherwise (see _identifiers)
            original_uri=_iri(harvest.get("uri")) or _iri(item.get("uri")),
            **_identifiers(item, harvest),
            keywords=keywords,
            # udata has no themes: tags that name an EU data theme give it ("transport", "sante"…)
            themes=_unique([m.uri for tag in tags for m in normalise.theme_uris(tag)]),
            publisher=_publisher(item, fields, values, lang),
            contact_points=[
                ContactPoint(**c)
                for cp in item.get("contact_points") or ()
                if isinstance(cp, dict) and (c := fields.apply("contact_point", cp, values))
            ],
            distributions=[
                _distribution(r, fields, values, lang, licence)
                for r in item.get("resources") or ()
                if isinstance(r, dict)
            ],
            temporal=_temporal(item.get("temporal_coverage"), fields, values),
            spatial=_spatial(item.get("spatial"), values),
            landing_page=landing_page,
            **found,
            unmapped=values.unmapped,
        )


def incomplete(totals: list[int], read: int) -> str | None:
    """Why a walk that reached its end cannot be trusted to have listed everything, if it cannot."""
    if len(set(totals)) > 1:
        return (
            f"the announced total changed during the run ({totals[0]} → {totals[-1]}): datasets may have "
            "shifted between pages and been skipped"
        )
    if totals and read < totals[-1]:
        return f"the listing ended after {read} of the {totals[-1]} datasets it announced"
    return None


def _envelope(body: Any, url: str) -> tuple[list[Any], int | None, str | None]:
    """The page's datasets, announced total and next link; a body of another shape is a HarvestError."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise HarvestError(f"{url}: not a udata dataset listing (no `data` list)")
    total = body.get("total")
    next_page = body.get("next_page")
    return (
        body["data"],
        total if isinstance(total, int) and not isinstance(total, bool) else None,
        next_page if isinstance(next_page, str) and next_page.strip() else None,
    )


def _iri(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and is_iri(value.strip()) else None


def _identifiers(item: dict[str, Any], harvest: dict[str, Any]) -> dict[str, list[str]]:
    """dct:identifier: the origin's identifier of a harvested dataset, else udata's id (udata's own DCAT
    export does the same). adms:identifier: udata's id and the origin's record id (a CKAN package id, a DCAT
    URI…), the keys deduplication matches copies of one dataset on."""
    identifier = _unique([harvest.get("dct_identifier") or item["id"]])
    others = [i for i in _unique([item["id"], harvest.get("remote_id")]) if i not in identifier]
    return {"identifier": identifier, "other_identifier": others}


def _publisher(item: dict[str, Any], fields: FieldMap, values: ValueMapper, lang: str | None) -> Agent | None:
    if isinstance(item.get("organization"), dict):
        return Agent(**fields.apply("publisher", item, values, lang))
    owner = item.get("owner")
    if isinstance(owner, dict):  # a dataset published by a user in their own name
        name = " ".join(p for p in (owner.get("first_name"), owner.get("last_name")) if isinstance(p, str))
        return Agent(
            name=[Text(name.strip())] if name.strip() else [],
            **fields.apply("owner", item, values),
        )
    return None


def _distribution(
    resource: dict[str, Any], fields: FieldMap, values: ValueMapper, lang: str | None, licence: str | None
) -> Distribution:
    found = fields.apply("distribution", resource, values, lang)
    checksum = resource.get("checksum")
    if isinstance(checksum, dict) and checksum.get("type") and checksum.get("value"):
        # udata's checksum types are SPDX algorithm names (sha1, sha256, md5)
        found["checksum"] = Checksum(
            algorithm=f"{SPDX}checksumAlgorithm_{str(checksum['type']).lower()}", value=str(checksum["value"])
        )
    schema = resource.get("schema")
    if isinstance(schema, dict) and _iri(schema.get("url")):
        found["conforms_to"] = [schema["url"].strip()]
    return Distribution(licence=licence, **found)  # udata licenses datasets, not resources


def _temporal(coverage: Any, fields: FieldMap, values: ValueMapper) -> list[PeriodOfTime]:
    if not isinstance(coverage, dict):
        return []
    found = fields.apply("temporal", coverage, values)
    return [PeriodOfTime(**found)] if found else []


def _spatial(spatial: Any, values: ValueMapper) -> list[Location]:
    """udata's spatial coverage: GeoZone ids ("fr:commune:35328", "country:fr") kept as labels, the drawn
    geometry as WKT; the granularity ("fr:commune") has no DCAT-AP property and is noted as unmapped."""
    if not isinstance(spatial, dict):
        return []
    zones = spatial.get("zones")
    locations = [
        Location(label=[Text(zone.strip())])
        for zone in (zones if isinstance(zones, list) else ())
        if isinstance(zone, str) and zone.strip()
    ]
    geometry = geojson_wkt(spatial.get("geom"))
    if geometry:
        box = geojson_bbox(spatial.get("geom"))
        locations.append(Location(geometry=geometry, bbox=bbox_wkt(box) if box else None))
    if isinstance(spatial.get("granularity"), str) and spatial["granularity"].strip():
        values.note("spatial_granularity", spatial["granularity"].strip())
    return locations
