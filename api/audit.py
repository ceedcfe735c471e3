"""Publication obligations: `GET /api/audit`, the report of `fedcat audit`, filtered and paged.

Included by `create_app`; reads the store and the config (`settings.bodies`) from `request.app.state`. The
registry is loaded at the first request and again when one of its files changes. The aggregate per body is
kept for CACHE_SECONDS, and made again as soon as a harvest run starts or ends, so that paging through tens
of thousands of bodies costs one aggregation (`computed_at` says when it was made).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ..audit.registry import Registry, RegistryError
from ..audit.report import (
    PUBLICATION,
    FilterError,
    Publishing,
    audit_filters,
    published_by_body,
    report,
)
from ..audit.rules import STATUSES
from ..store import discovery as stored_discovery
from .conventions import page_links
from .errors import ApiError
from .schemas import ErrorBody

router = APIRouter(tags=["audit"])
CACHE_SECONDS = 60.0
MAX_PAGE_SIZE = 1000
LISTED = 100  # unmatched publishers and registry problems listed in a response (all are counted)
_encoder = msgspec.json.Encoder()
_lock = threading.Lock()  # one aggregation at a time in this process; concurrent requests wait for it


class PublicationPlace(BaseModel):
    type: str = Field(description="The source type fedcat would harvest it with: opendatasoft, ckan, dcat…")
    url: str
    harvested: bool = Field(description="A source of fedcat harvests it (same type and URL, or same host).")
    source: str | None = Field(description="That source's id.")
    found_at: str | None = Field(description="When a crawl of the body's website first found it.")
    found_on: str | None = Field(description="The page of the body's website that links to it.")
    confirmed: bool = Field(
        description="One request to the platform's API answered as that platform (else: URL pattern only)."
    )
    probe: str = Field(description="What that request showed, or why it is pattern only.")
    entry: dict[str, Any] | None = Field(
        description="The sources.yaml entry proposed for it (to review; null when harvested)."
    )


class WebsiteCrawl(BaseModel):
    website: str
    crawled_at: str
    complete: bool = Field(description="False when the crawl hit a cap: more may be linked from the site.")
    reasons: list[str]


class AuditBody(BaseModel):
    id: str = Field(description="The body's jurisdiction key: commune:59350 (INSEE), epci:200093201 (SIREN)…")
    name: str
    kind: str = Field(description="commune, epci, departement, region, ept, com, or a declared kind.")
    population: int | None
    agents: float | None = Field(
        description="Agents, full-time equivalent, when a bodies file declares them."
    )
    obligated: str = Field(description=f"One of {', '.join(STATUSES)}: obliged to publish its data.")
    why: str = Field(description="The figures the obligation rules read, e.g. 'population 238,246 ≥ 3,500'.")
    rule: str | None = Field(description="The rule that holds, when obligated.")
    publishing: bool = Field(description="At least one live dataset is matched to the body.")
    datasets: int = Field(description="Live datasets (copies from several sources count once).")
    last_modified: str | None = Field(description="The most recent `modified` date of its datasets.")
    open_licence_share: float | None = Field(description="Share of its datasets under an open licence.")
    open_format_share: float | None = Field(
        description="Share with at least one distribution in an open machine-readable format."
    )
    quality_mean: float | None = Field(description="Mean metadata quality (MQA) score, 0 to 405.")
    hvd_datasets: int = Field(description="Datasets with EU high-value dataset categories.")
    families: dict[str, int] = Field(
        description="The expected dataset families it publishes (`families`): family id -> datasets."
    )
    families_missing: list[str] = Field(
        description="Families expected of an obligated body of its kind of which it publishes no dataset."
    )
    sources: list[str] = Field(description="The sources its datasets come from.")
    matched_by: list[str] = Field(
        description="How its publishers were matched: siren (SIREN/SIRET), name, jurisdiction (no publisher)."
    )
    publication: str = Field(
        description=f"Where it was found to publish: {', '.join(PUBLICATION)}. `harvested`: datasets matched to "
        "it in the harvested catalogues; `not_harvested_yet`: none there, but its website links to a portal, "
        "catalogue or dataset pages fedcat does not harvest (`fedcat discover --save`); `no_evidence`: neither."
    )
    publishes_on: list[PublicationPlace] = Field(
        description="The sources its datasets come from, then what its website links to, harvested or not."
    )
    not_harvested_yet: list[str] = Field(
        description="The URLs of `publishes_on` fedcat does not harvest yet."
    )
    website_crawl: WebsiteCrawl | None = Field(
        description="The last crawl of its website by `fedcat discover --save` (null: never crawled)."
    )


class FamilyCoverage(BaseModel):
    id: str
    label: str
    obligated: int = Field(description="Listed obligated bodies of the kinds the family concerns.")
    having: int = Field(description="Of which publishing at least one dataset of it.")
    coverage: float | None = Field(description="having / obligated (null when none).")
    missing: int = Field(description="Of which expected to publish it and not publishing it.")
    datasets: int = Field(description="Its datasets among the listed bodies.")


class AuditFamily(BaseModel):
    id: str
    label: str
    expected: list[str] = Field(description="Kinds of body expected to publish it, when obligated.")
    recommended: list[str] | None = Field(description="Kinds it is recommended of (null: every kind).")
    basis: str = Field(description="Its legal or reference basis.")


class AuditSummary(BaseModel):
    bodies: int = Field(description="Bodies the filters keep.")
    obligated: int
    obligation_unknown: int
    not_obligated: int
    obligated_publishing: int
    coverage: float | None = Field(description="obligated_publishing / obligated (null when none obligated).")
    publishing: int
    not_harvested_yet: int = Field(
        description="Bodies with no dataset in the harvested catalogues whose website links to a portal or "
        "catalogue not harvested yet."
    )
    records: int = Field(description="Live records in the store.")
    records_matched: int = Field(description="Of which matched to a registry body.")
    unmatched_publishers: int
    families: list[FamilyCoverage] = Field(
        description="Coverage of each dataset family among obligated bodies."
    )


class Unmatched(BaseModel):
    source: str
    publisher: str
    identifier: str
    datasets: int
    why: str = Field(description="No body of that name, or ambiguous (with the candidates).")


class AuditPage(BaseModel):
    summary: AuditSummary
    rules: list[dict[str, Any]] = Field(description="The obligation rules applied, with their legal basis.")
    families: list[AuditFamily] = Field(
        description="The expected dataset families (audit/families.yaml) and how they apply."
    )
    registry: dict[str, Any] = Field(description="Files, bodies, load time, problems (first 100), skipped.")
    total: int
    page: int
    page_size: int
    items: list[AuditBody] = Field(description="Obligated bodies first, then by population.")
    unmatched: list[Unmatched] = Field(
        description="Publishers matched to no body, most datasets first (first 100)."
    )
    computed_at: str


def _error(status: int, message: str, parameter: str | None = None) -> Exception:
    return ApiError(status, message, parameter)


def _registry(request: Request) -> tuple[tuple, Registry]:
    """The registry and the (path, mtime) of its files, loaded again when a file changed."""
    paths = request.app.state.config.settings.bodies
    if not paths:
        raise _error(503, "no registry of public bodies: set settings.bodies in the config")
    try:
        stamp = tuple((str(p), Path(p).stat().st_mtime_ns) for p in paths)
    except OSError as exc:
        raise _error(503, f"cannot read the bodies file {exc.filename}: {exc.strerror}") from None
    cached = getattr(request.app.state, "audit_registry", None)
    if cached is None or cached[0] != stamp:
        try:
            cached = (stamp, Registry.load(paths))
        except RegistryError as exc:
            raise _error(503, str(exc)) from None
        request.app.state.audit_registry = cached
    return cached


def _published(request: Request, files: tuple, registry: Registry) -> tuple[Publishing, str]:
    """The aggregate per body, made again after CACHE_SECONDS, when a run started or ended, or when
    `fedcat discover --save` saved a crawl."""
    state, store = request.app.state, request.app.state.store
    key = (files, store.runs_stamp(), stored_discovery.stamp(store))
    cached = getattr(state, "audit_published", None)
    if cached is None or cached[0] != key or time.monotonic() - cached[1] > CACHE_SECONDS:
        config = state.config
        jurisdictions = {s.id: s.jurisdiction.key for s in config.sources if s.jurisdiction}
        configured = [(s.id, s.type, s.url) for s in config.sources]
        published = published_by_body(store, registry, jurisdictions, configured)
        stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        cached = (key, time.monotonic(), published, stamp)
        state.audit_published = cached
    return cached[2], cached[3]


@router.get(
    "/api/audit",
    summary="Publication obligations per public body",
    description="For each body of the registry (`settings.bodies`: @etalab/decoupage-administratif files, "
    "bodies CSV or YAML): whether the law obliges it to publish its data (yes, no or unknown, with the "
    "figures and the rule; the rules and their legal basis are in `rules`), whether it publishes (datasets "
    "of the store matched to it by SIREN/SIRET, by name within the source's jurisdiction, or by the "
    "source's jurisdiction for records without a publisher), and what: live datasets, last modified, "
    "share under an open licence, share in an open machine-readable format, mean metadata quality, "
    "high-value datasets, and the expected dataset families it publishes (the French socle commun des "
    "données locales, EU high-value dataset categories; recognised by dct:conformsTo schema, HVD category, "
    "then title or keyword words) and those it is expected to publish and does not. `summary` counts the "
    "bodies the filters keep, and the coverage of each family; `unmatched` lists the publishers no body was "
    "found for. Where each body publishes (`publishes_on`, `publication`) adds what `fedcat discover --save` "
    "found on its website: portals, catalogues and dataset pages not harvested yet, each with the date found, "
    "whether a request to the platform's API confirmed it, and the sources.yaml entry proposed.",
    response_model=AuditPage,
    responses={
        400: {
            "model": ErrorBody,
            "description": "A filter value was refused (an unknown kind or family id…); `errors` names it.",
        },
        503: {"model": ErrorBody, "description": "No registry configured, or a bodies file cannot be read."},
    },
)
def audit_report(
    request: Request,
    kind: Annotated[
        list[str] | None, Query(description="Only bodies of this kind (repeat for several): commune, epci…")
    ] = None,
    departement: Annotated[
        str | None, Query(description="Only bodies within this département (code: 59, 2A, 974).")
    ] = None,
    within: Annotated[
        list[str] | None,
        Query(
            description="Only bodies within this jurisdiction (level:code, e.g. epci:200093201; repeatable)."
        ),
    ] = None,
    obligated_only: Annotated[bool, Query(description="Only bodies obliged to publish.")] = False,
    not_publishing: Annotated[bool, Query(description="Only bodies with no live dataset.")] = False,
    has: Annotated[
        list[str] | None,
        Query(
            description="Only bodies publishing a dataset of this family (id, e.g. deliberations; repeatable)."
        ),
    ] = None,
    missing: Annotated[
        list[str] | None,
        Query(
            description="Only bodies of a kind this family concerns that publish no dataset of it "
            "(id; repeatable). With obligated_only: the obligated bodies lacking it."
        ),
    ] = None,
    publication: Annotated[
        list[str] | None,
        Query(
            description=f"Only bodies found to publish so ({', '.join(PUBLICATION)}; repeatable): "
            "not_harvested_yet lists those whose website links to a portal fedcat does not harvest yet."
        ),
    ] = None,
    page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Bodies per page.")] = 100,
) -> Response:
    with _lock:
        files, registry = _registry(request)
        try:
            filters = audit_filters(
                registry, kind, departement, within, obligated_only, not_publishing, has, missing, publication
            )
        except FilterError as exc:
            raise _error(400, str(exc), exc.parameter) from None
        published, computed_at = _published(request, files, registry)
    body = report(registry, published, filters)
    items = body["items"]
    body["registry"]["problems"] = body["registry"]["problems"][:LISTED]
    body.update(
        total=len(items),
        page=page,
        page_size=page_size,
        items=items[(page - 1) * page_size : page * page_size],
        unmatched=body["unmatched"][:LISTED],
        computed_at=computed_at,
    )
    links = page_links(request, page, page_size, len(items))
    return Response(_encoder.encode(body), media_type="application/json", headers={"Link": links})
