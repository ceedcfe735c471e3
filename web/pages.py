"""The pages people read: search, dataset, sources and runs, quality, audit. Server-rendered, no script.

Every page reads through the same objects as the JSON API (the search backend for ids, totals and facet
counts; the store for records, sources and runs; the quality and audit reports), never SQL of its own.
Every state of the search page is its URL: filters, dates, sort, page and language are query parameters,
so a page can be shared, bookmarked and reached without JavaScript.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
import logging
import re
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ..api import audit as audit_api
from ..api import linked_data
from ..api.datasets import given_labels
from ..api.errors import ApiError
from ..api.params import date_param, search_filters
from ..api.quality import dataset_quality_json
from ..api.quality import report as quality_report
from ..audit.report import FilterError, audit_filters
from ..audit.report import report as audit_report
from ..federation.areas import LEVELS as AREA_LEVELS
from ..federation.areas import Areas, areas_for
from ..harvester.schedule import next_fire
from ..indexer.backend import FACETS, MAX_RESULT_WINDOW, SearchQuery
from ..indexer.derived import quality_bands, shacl_results
from ..mappings import vocabularies
from ..mappings.geometry import extent
from ..mappings.model import Dataset, Location, Text
from ..mappings.quality import BANDS, MAX_POINTS
from ..mappings.reuse import type_label
from ..redaction import redact_text, redact_url
from ..store import COUNTERS, record_id
from ..store.reuses import Reuses
from .i18n import COOKIE, LANGUAGES, Language, choose
from .render import linkable, render

log = logging.getLogger("fedcat.web")
router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
SORTS = ("relevance", "modified", "-modified")
# a page of CSP: no script at all, styles only from our stylesheet; images from us or inline (SVG)
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
LangParam = Annotated[str | None, Query(description="Interface language: fr or en.")]


def _filter_query() -> Any:
    return Query()


# --- shared page plumbing ----------------------------------------------------------------------------------


def language(request: Request, lang: str | None) -> Language:
    return Language(choose(lang, request.cookies.get(COOKIE), request.headers.get("accept-language")))


def text_for(texts: list[Text], lang: str) -> str:
    """The text in the page's language, else French, else English, else the first one."""
    by_lang = {t.lang: t.value for t in texts}
    for candidate in (lang, "fr", "en", None):
        if by_lang.get(candidate):
            return by_lang[candidate]
    return texts[0].value if texts else ""


@lru_cache(maxsize=65536)
def label(value: str | None, lang: str) -> str:
    if not value:
        return ""
    if value.startswith(("http://", "https://", "urn:")):
        return vocabularies.label(value, lang)
    return value


# udata's GeoZone ids ("fr:commune:59350", "fr:epci:200093201", "country:fr"): the registry's area keys
_ZONE = re.compile(r"^(?:fr:)?(commune|epci|departement|region|country):([0-9A-Za-z]+)$")


def place(location: Location, lang: Language, areas: Areas | None = None) -> str:
    """A place as a person reads it: its name (a udata zone id named by the registry's areas), else its
    IRI's label, else the box its geometry covers."""
    if named := text_for(location.label, lang.code) or (
        label(location.uri, lang.code) if location.uri else ""
    ):
        if areas is not None and (zone := _ZONE.match(named)):
            level, code = zone.groups()
            key = f"{level}:{code.upper() if level == 'country' else code}"
            found = areas.name(key)
            return found if found != key else named
        return named
    box = extent([g for g in (location.bbox, location.geometry, location.centroid) if g])
    if box is None:
        return ""
    west, south, east, north = (lang.number(v, 4) for v in box)
    return lang.gettext(
        "longitude {west} to {east}, latitude {south} to {north}",
        west=west,
        east=east,
        south=south,
        north=north,
    )


def page(
    request: Request, lang: Language, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    other = {code: f"{request.url.path}?{urlencode([*query, ('lang', code)])}" for code in LANGUAGES}
    body = render(
        template,
        {
            **context,
            "lang": lang.code,
            "_": lang.gettext,
            "ngettext": lang.ngettext,
            "number": lang.number,
            "date": lang.date,
            "switch": {code: url for code, url in other.items() if code != lang.code},
            "path": request.url.path,
        },
    )
    response = HTMLResponse(body, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Content-Language"] = lang.code
    response.headers["Vary"] = "Accept, Accept-Language, Cookie"
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(COOKIE, lang.code, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


def not_found(request: Request, lang: Language, message: str) -> Response:
    return page(request, lang, "error.html", {"title": lang.gettext("Not found"), "message": message}, 404)


def missing(request: Request, kind: str, name: str) -> Response:
    """The 404 page a browser gets for an unknown dataset or source (RDF clients get the JSON error)."""
    speech = language(request, request.query_params.get("lang"))
    if kind == "dataset":
        message = speech.gettext(
            "No dataset “{id}”: it may have been removed, or the address is mistyped.", id=name
        )
    else:
        message = speech.gettext("No source “{id}”.", id=name)
    return not_found(request, speech, message)


def _config(request: Request) -> Any:
    return request.app.state.config


def jurisdiction_names(request: Request) -> dict[str, str]:
    """Jurisdiction key -> name: the config's, else the registry of public bodies' (when configured)."""
    names = {
        s.jurisdiction.key: s.jurisdiction.name
        for s in _config(request).sources
        if s.jurisdiction and s.jurisdiction.name
    }
    if _config(request).settings.bodies:
        try:
            with audit_api._lock:
                _files, registry = audit_api._registry(request)
        except ApiError:  # an unreadable registry: the audit page says why; here, codes will do
            return names
        for source in _config(request).sources:
            key = source.jurisdiction.key if source.jurisdiction else None
            body = registry.get(key) if key and key not in names else None
            if body is not None:
                names[key] = body.name  # type: ignore[index]
    return names


def jurisdiction_label(key: str, names: dict[str, str], lang: Language) -> str:
    """A jurisdiction's name, else its level in words and its code ("Commune 59350"), never "commune:59350"."""
    if key in names:
        return names[key]
    level, _, code = key.partition(":")
    levels = {
        "pays": lang.gettext("Country"),
        "region": lang.gettext("Region"),
        "departement": lang.gettext("Département"),
        "epci": lang.gettext("EPCI"),
        "commune": lang.gettext("Commune"),
    }
    return f"{levels.get(level, level)} {code}".strip()


def band_label(band: str, lang: Language) -> str:
    names = {
        "excellent": lang.gettext("Excellent"),
        "good": lang.gettext("Good"),
        "sufficient": lang.gettext("Sufficient"),
        "bad": lang.gettext("Bad"),
    }
    return names.get(band, band)


def quality_labels(lang: Language) -> dict[str, str]:
    """The MQA dimensions and indicators (mappings.quality's keys) in words."""
    return {
        "findability": lang.gettext("Findability"),
        "accessibility": lang.gettext("Accessibility"),
        "interoperability": lang.gettext("Interoperability"),
        "reusability": lang.gettext("Reusability"),
        "contextuality": lang.gettext("Context"),
        "keyword": lang.gettext("Keywords given"),
        "theme": lang.gettext("Themes given"),
        "spatial": lang.gettext("Spatial coverage given"),
        "temporal": lang.gettext("Temporal coverage given"),
        "access_url_status": lang.gettext("Access URLs answer"),
        "download_url": lang.gettext("Download URL given"),
        "download_url_status": lang.gettext("Download URLs answer"),
        "format": lang.gettext("Format given"),
        "media_type": lang.gettext("Media type given"),
        "vocabulary": lang.gettext("Format from a controlled vocabulary"),
        "non_proprietary": lang.gettext("Non-proprietary format"),
        "machine_readable": lang.gettext("Machine-readable format"),
        "dcat_ap_compliance": lang.gettext("DCAT-AP compliance"),
        "licence": lang.gettext("Licence given"),
        "licence_vocabulary": lang.gettext("Licence from a controlled vocabulary"),
        "access_rights": lang.gettext("Access rights given"),
        "access_rights_vocabulary": lang.gettext("Access rights from a controlled vocabulary"),
        "contact_point": lang.gettext("Contact point given"),
        "publisher": lang.gettext("Publisher given"),
        "rights": lang.gettext("Rights given"),
        "byte_size": lang.gettext("File size given"),
        "issued": lang.gettext("Issue date given"),
        "modified": lang.gettext("Modification date given"),
    }


def _duration(started: str | None, ended: str | None) -> float | None:
    if not started or not ended:
        return None
    try:
        start = datetime.fromisoformat(started.replace("Z", "+00:00"))
        end = datetime.fromisoformat(ended.replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((end - start).total_seconds(), 1)


# --- search ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _query_pair(name: str, value: str) -> str:
    """`name=value` for a URL (a page links ~300 facet values; the same ones, page after page)."""
    return urlencode({name: value})


class SearchState:
    """The search page's parameters, and the URLs of the states next to it (a filter added or removed…)."""

    def __init__(self, q: str, filters: dict[str, list[str]], after: str, before: str, sort: str, page: int):
        self.q, self.filters, self.after, self.before = q, filters, after, before
        self.sort, self.page = sort, page
        self._first_page = self.url()  # this state on page 1: the base of every facet link

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        state = {"q": self.q, "modified_after": self.after, "modified_before": self.before, "sort": self.sort}
        state.update({k: v for k, v in changes.items() if k in state})
        pairs = [(k, v) for k, v in state.items() if v and not (k == "sort" and v == "relevance")]
        filters = changes.get("filters", self.filters)
        for facet in FACETS:
            pairs.extend((facet, value) for value in filters.get(facet, []))
        number = changes.get("page", 1)
        if number > 1:
            pairs.append(("page", str(number)))
        return pairs

    def url(self, **changes: Any) -> str:
        pairs = self.params(**changes)
        return "/" + ("?" + urlencode(pairs) if pairs else "")

    def toggled(self, facet: str, value: str) -> str:
        """This state with `value` added to (or removed from) the facet's filter, back on page 1."""
        if value not in self.filters.get(facet, ()):  # adding: this state's URL and one more pair
            return self._first_page + ("&" if "?" in self._first_page else "?") + _query_pair(facet, value)
        filters = {
            k: [v for v in values if not (k == facet and v == value)] for k, values in self.filters.items()
        }
        return self.url(filters=filters)

    def active(self, facet: str, value: str) -> bool:
        return value in self.filters.get(facet, [])


def _date_input(value: str | None, name: str, lang: Language, errors: list[str]) -> str | None:

    try:
        return date_param(name, value)
    except ApiError:
        errors.append(
            lang.gettext("“{value}” is not a date: write it as YYYY-MM-DD, YYYY-MM or YYYY.", value=value)
        )
        return None


def _filters_input(
    asked: dict[str, list[str] | None], lang: Language, errors: list[str]
) -> dict[str, list[str]]:
    """The search filters, as the API resolves them; a filter the API would refuse (an unknown theme or
    source) is said on the page and left out, rather than answered with the API's JSON error."""
    while True:
        try:
            return search_filters(**asked)
        except ApiError as exc:
            if not asked.get(exc.parameter or ""):
                raise
            refused = ", ".join(asked[exc.parameter] or ())  # type: ignore[index]
            errors.append(
                lang.gettext(
                    "Unknown {parameter} “{value}”: that filter is left out.",
                    parameter=exc.parameter,
                    value=refused,
                )
            )
            asked = {**asked, exc.parameter: None}  # type: ignore[dict-item]


def facet_label(facet: str, value: str, lang: Language, names: dict[str, Any]) -> str:
    if facet == "source":
        return names["sources"].get(value, value)
    if facet == "jurisdiction":
        if value not in names["jurisdictions"]:  # an area of the registry the federation places records in
            named = names["areas"].name(value)
            if named != value:
                return named
        return jurisdiction_label(value, names["jurisdictions"], lang)
    if facet == "quality":
        return band_label(value, lang)
    if facet == "has_reuses":
        return lang.gettext("With reuses") if value == "true" else lang.gettext("Without reuses")
    if facet in ("publisher", "keyword"):
        return value
    if value in names.get("given", {}):  # no vocabulary of fedcat's labels it: its sources' label
        return vocabularies.label(value, lang.code, names["given"][value])
    return label(value, lang.code)


def facet_titles(lang: Language) -> dict[str, str]:
    return {
        "theme": lang.gettext("Theme"),
        "publisher": lang.gettext("Publisher"),
        "format": lang.gettext("Format"),
        "licence": lang.gettext("Licence"),
        "keyword": lang.gettext("Keyword"),
        "source": lang.gettext("Source"),
        "jurisdiction": lang.gettext("Jurisdiction"),
        "language": lang.gettext("Language"),
        "quality": lang.gettext("Metadata quality"),
        "has_reuses": lang.gettext("Reuses"),
    }


def _breadth(area: str) -> int:
    """How wide an area's level is (commune 0 … EU 5; a level the registry does not know: widest)."""
    level = area.split(":", 1)[0]
    level = "country" if level == "pays" else level
    return AREA_LEVELS.index(level) if level in AREA_LEVELS else len(AREA_LEVELS)


def jurisdiction_tree(
    values: list[tuple[str, str, int]], areas: Areas, state: SearchState, lang: Language
) -> list[dict[str, Any]]:
    """The jurisdiction facet as the hierarchy of its areas: each area under the narrowest other area of
    the facet that it lies within (région > département > EPCI > commune, from the registry of public
    bodies), widest first, then by name. A fold is open when a chosen area is in it, or it is a top area's
    (its areas shown); the page folds the rest with <details>, no script."""
    present = {value for value, _, _ in values}
    nodes: dict[str, dict[str, Any]] = {
        value: {
            "value": value,
            "label": name,
            "count": count,
            "url": state.toggled("jurisdiction", value),
            "active": state.active("jurisdiction", value),
            "children": [],
        }
        for value, name, count in values
    }
    roots: list[dict[str, Any]] = []
    for value, _, _ in values:
        wider = [
            a for a in areas.within(value) if a != value and a in present and _breadth(a) > _breadth(value)
        ]
        parent = min(wider, key=_breadth) if wider else None
        (nodes[parent]["children"] if parent else roots).append(nodes[value])

    level_names = {
        "country": lang.gettext("Country"),
        "region": lang.gettext("Regions"),
        "departement": lang.gettext("Départements"),
        "epci": lang.gettext("Intercommunalities (EPCI)"),
        "commune": lang.gettext("Communes"),
    }

    def inside(children: list[dict[str, Any]]) -> str:
        """What a fold holds, by level: "Communes (12)"."""
        levels: dict[str, int] = {}
        for child in children:
            level = child["value"].split(":", 1)[0]
            levels[level] = levels.get(level, 0) + 1
        return ", ".join(
            f"{level_names.get(level) or lang.gettext('Other areas')} ({lang.number(n)})"
            for level, n in levels.items()
        )

    def settle(branch: list[dict[str, Any]], depth: int) -> bool:
        branch.sort(key=lambda n: (-_breadth(n["value"]), n["label"].casefold()))
        chosen = False
        for node in branch:
            within = settle(node["children"], depth + 1)
            node["open"] = within or depth < 1
            node["inside"] = inside(node["children"])
            chosen = chosen or within or node["active"]
        return chosen

    settle(roots, 0)
    return roots


def result_item(
    fedcat_id: str,
    source_id: str,
    ds: Dataset,
    band: str,
    others: list[tuple[str, str, str]],
    lang: Language,
    names: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": fedcat_id,
        "title": text_for(ds.title, lang.code) or fedcat_id,
        "excerpt": text_for(ds.description, lang.code),
        "publisher": text_for(ds.publisher.name, lang.code) if ds.publisher else "",
        "formats": [
            label(f, lang.code) for f in dict.fromkeys(d.format for d in ds.distributions if d.format)
        ],
        "licence": label(ds.licence, lang.code),
        "modified": ds.modified,
        "band": band,
        "band_label": band_label(band, lang),
        "source": names["sources"].get(source_id, source_id),
        "also": [(other_id, names["sources"].get(s, s)) for other_id, s, _uri in others],
    }


@router.get("/", response_class=HTMLResponse)
def search_page(
    request: Request,
    q: Annotated[str, Query(max_length=1000)] = "",
    publisher: Annotated[list[str] | None, _filter_query()] = None,
    theme: Annotated[list[str] | None, _filter_query()] = None,
    format: Annotated[list[str] | None, _filter_query()] = None,
    licence: Annotated[list[str] | None, _filter_query()] = None,
    keyword: Annotated[list[str] | None, _filter_query()] = None,
    source: Annotated[list[str] | None, _filter_query()] = None,
    language_: Annotated[list[str] | None, Query(alias="language")] = None,
    jurisdiction: Annotated[list[str] | None, _filter_query()] = None,
    quality: Annotated[list[str] | None, _filter_query()] = None,
    has_reuses: Annotated[list[str] | None, _filter_query()] = None,
    modified_after: str | None = None,
    modified_before: str | None = None,
    sort: str = "relevance",
    page_number: Annotated[str, Query(alias="page")] = "1",
    lang: LangParam = None,
) -> Response:

    started = time.perf_counter()
    speech = language(request, lang)
    errors: list[str] = []
    asked = {
        "publisher": publisher,
        "theme": theme,
        "format": format,
        "licence": licence,
        "keyword": keyword,
        "source": source,
        "language": language_,
        "jurisdiction": jurisdiction,
        "quality": quality,
        "has_reuses": has_reuses,
    }
    filters = _filters_input(asked, speech, errors)
    after = _date_input(modified_after, "modified_after", speech, errors)
    before = _date_input(modified_before, "modified_before", speech, errors)
    if sort not in SORTS:
        errors.append(speech.gettext("Unknown sort order “{value}”: results are by relevance.", value=sort))
        sort = "relevance"
    max_page = MAX_RESULT_WINDOW // PAGE_SIZE
    number = int(page_number) if page_number.isdigit() and int(page_number) >= 1 else 1
    if number > max_page:
        errors.append(
            speech.gettext(
                "Results stop at page {max}: narrow the search with words or filters.", max=max_page
            )
        )
        number = max_page
    state = SearchState(q, filters, after or "", before or "", sort, number)
    backend, store = request.app.state.backend, request.app.state.store
    try:
        result = backend.search(
            SearchQuery(
                q=q,
                filters=filters,
                modified_after=after,
                modified_before=before,
                sort=sort,
                page=number,
                page_size=PAGE_SIZE,
            )
        )
    except ValueError as exc:
        log.warning("search page refused by the backend: %s", exc)
        errors.append(speech.gettext("This search could not be run: change its words or filters."))
        result = None
    names: dict[str, Any] = {
        "sources": linked_data.source_names(request),
        "jurisdictions": jurisdiction_names(request),
        "areas": areas_for(_config(request).settings.bodies),
    }
    items, facets, total = [], {}, 0
    if result is not None:
        total = result.total
        names["given"] = given_labels(store, result.facets)
        found = store.datasets(result.ids)
        bands = quality_bands(store, result.ids)
        copies = linked_data.duplicates_of(
            request, [(i, hit["dataset"].original_uri) for i, hit in found.items()]
        )
        for fedcat_id in result.ids:
            hit = found.get(fedcat_id)
            if hit is not None:
                band = bands.get(fedcat_id, "")
                items.append(
                    result_item(
                        fedcat_id, hit["source_id"], hit["dataset"], band, copies[fedcat_id], speech, names
                    )
                )
        for facet, values in result.facets.items():
            facets[facet] = [
                {
                    "value": fv.value,
                    "label": facet_label(facet, fv.value, speech, names),
                    "count": fv.count,
                    "active": state.active(facet, fv.value),
                    "url": state.toggled(facet, fv.value),
                }
                for fv in values
            ]
    titles = facet_titles(speech)
    active = [
        {
            "facet": titles[facet],
            "label": facet_label(facet, value, speech, names),
            "url": state.toggled(facet, value),
        }
        for facet, values in filters.items()
        for value in values
    ]
    if after:
        active.append(
            {
                "facet": speech.gettext("Modified after"),
                "label": speech.date(after),
                "url": state.url(modified_after=""),
            }
        )
    if before:
        active.append(
            {
                "facet": speech.gettext("Modified before"),
                "label": speech.date(before),
                "url": state.url(modified_before=""),
            }
        )
    last_page = max(1, min(max_page, -(-total // PAGE_SIZE)))
    jurisdictions = [(f["value"], f["label"], f["count"]) for f in facets.get("jurisdiction", [])]
    hidden = [
        (k, v)
        for k, v in state.params()
        if k not in ("q", "sort", "modified_after", "modified_before", "page")
    ]
    response = page(
        request,
        speech,
        "search.html",
        {
            "title": speech.gettext("Search open data") if not q else speech.gettext("“{q}” — search", q=q),
            "state": state,
            "errors": errors,
            "items": items,
            "total": total,
            "facets": [
                (name, titles[name], facets[name])
                for name in FACETS
                if facets.get(name) and name != "jurisdiction"
            ],
            "jurisdiction_tree": jurisdiction_tree(jurisdictions, names["areas"], state, speech),
            "jurisdiction_title": titles["jurisdiction"],
            "active": active,
            "hidden": hidden,
            "sorts": [
                ("relevance", speech.gettext("Relevance")),
                ("modified", speech.gettext("Newest first")),
                ("-modified", speech.gettext("Oldest first")),
            ],
            "page_number": number,
            "last_page": last_page,
            "pages": [n for n in range(max(1, number - 3), min(last_page, number + 3) + 1)],
        },
        status=200 if not errors or result is not None else 400,
    )
    response.headers["Server-Timing"] = f"page;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


# --- dataset -------------------------------------------------------------------------------------------


RELATED_SHOWN = 50  # links shown per kind of relation (a series may have thousands of members)


def _decimal(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _related_links(
    request: Request, store: Any, ds: Dataset, source_id: str, speech: Language
) -> list[tuple[str, str, str]]:
    """(relation, text, href) of the datasets this one is linked to: its series, its members, its versions,
    the datasets it was derived from and related resources. fedcat's records (by fedcat's URI, or by the
    source's IRI of a record of the same source: the series a member names) link to their pages and show
    their titles; other IRIs link out when they may (`linkable`)."""
    own = _config(request).settings.base_url.rstrip("/") + "/datasets/"
    kinds = [
        (speech.gettext("Part of the series"), ds.in_series),
        (speech.gettext("Datasets of this series"), ds.series_members),
        (speech.gettext("Other versions"), ds.has_version),
        (speech.gettext("Version of"), ds.is_version_of),
        (speech.gettext("Derived from"), ds.source),
        (speech.gettext("Related resources"), ds.related),
    ]
    shown = [(name, uri) for name, uris in kinds for uri in dict.fromkeys(uris[:RELATED_SHOWN])]
    ids = {uri: uri[len(own) :] if uri.startswith(own) else record_id(source_id, uri) for _name, uri in shown}
    found = store.datasets(list(dict.fromkeys(ids.values()))) if ids else {}
    links = []
    for name, uri in shown:
        if (hit := found.get(ids[uri])) is not None:
            title = text_for(hit["dataset"].title, speech.code) or ids[uri]
            links.append((name, title, f"/datasets/{ids[uri]}"))
        elif linkable(uri):
            links.append((name, uri, uri))
    for name, uris in kinds:
        if len(uris) > RELATED_SHOWN:
            more = speech.gettext("and {n} more", n=speech.number(len(uris) - RELATED_SHOWN))
            links.append((name, more, ""))
    return links


# European Legislation Identifiers: /eli/{type}/{year}/{number}[/oj or a consolidated version's date]
_ELI = re.compile(r"^https?://data\.europa\.eu/eli/([a-z_]+)/(\d{4})/(\d+)(?:/(\d{4}-\d{2}-\d{2}))?(?:/|$)")


def legislation_label(uri: str, lang: Language) -> str:
    """An EU act as people cite it ("Implementing Regulation 2023/138"), from its ELI; other IRIs as they
    read (`label`)."""
    found = _ELI.match(uri)
    kinds = {
        "reg": lang.gettext("Regulation"),
        "reg_impl": lang.gettext("Implementing Regulation"),
        "reg_del": lang.gettext("Delegated Regulation"),
        "dir": lang.gettext("Directive"),
        "dir_impl": lang.gettext("Implementing Directive"),
        "dec": lang.gettext("Decision"),
        "dec_impl": lang.gettext("Implementing Decision"),
    }
    if not found or found[1] not in kinds:
        return label(uri, lang.code)
    kind, year, number, version = found.groups()
    cited = f"{kinds[kind]} {year}/{number}"
    return cited + (f" ({lang.gettext('version of')} {lang.date(version)})" if version else "")


def dataset_page(
    request: Request, record: dict[str, Any], duplicates: list[tuple[str, str, str]]
) -> Response:
    """The dataset's page; linked_data's `/datasets/{id}` calls it when the client wants HTML."""

    speech = language(request, request.query_params.get("lang"))
    store = request.app.state.store
    ds: Dataset = record["dataset"]
    names = linked_data.source_names(request)
    quality = dataset_quality_json(store, record["id"], ds)
    code = speech.code
    reused = Reuses(store)
    named = reused.of_records([record["id"]])[record["id"]]  # its own and its copies' (the cluster's)
    found = reused.summaries(named)
    reuses = [
        {
            "title": r.title,
            "type": type_label(r.type, code),
            "url": r.url if linkable(r.url) else None,
            "page": r.page if linkable(r.page) else None,
            "by": r.organization or r.owner,
            "source": names.get(found[i]["source"], found[i]["source"]),
        }
        for i in named
        if i in found and (r := found[i]["reuse"])
    ]

    def web_links(urls: list[str]) -> list[str]:
        return [u for u in urls if linkable(u)]

    distributions = [
        {
            "title": text_for(d.title, code) or label(d.format, code) or speech.gettext("File"),
            "description": text_for(d.description, code),
            "format": label(d.format, code),
            "media_type": label(d.media_type, code),
            "size": d.byte_size,
            "licence": label(d.licence or ds.licence, code),
            "download": web_links(d.download_url),
            "access": web_links(d.access_url),
            "modified": d.modified,
        }
        for d in ds.distributions
    ]
    provenance = [
        {
            "source": names.get(record["source_id"], record["source_id"]),
            "uri": record["original_uri"] or ds.original_uri,
            "id": record["id"],
            "self": True,
        }
    ] + [
        {"source": names.get(s, s), "uri": record["original_uri"], "id": other_id, "self": False}
        for other_id, s, _u in duplicates
    ]

    def labelled(uri: str | None) -> str:
        """fedcat's label of an IRI, else the one the source gave it (ds.labels), else its readable part."""
        given = {t.lang or "": t.value for t in ds.labels.get(uri or "", [])}
        return vocabularies.label(uri, code, given) if uri and given else label(uri, code)

    base = f"/datasets/{record['id']}"
    areas = areas_for(_config(request).settings.bodies)
    kind = (
        speech.gettext("Data service")
        if ds.service is not None
        else speech.gettext("Dataset series")
        if ds.is_series
        else ""
    )
    facts = [
        (speech.gettext("Kind"), kind),
        (speech.gettext("Publisher"), text_for(ds.publisher.name, code) if ds.publisher else ""),
        (speech.gettext("Creator"), text_for(ds.creator.name, code) if ds.creator else ""),
        (speech.gettext("Rights holder"), text_for(ds.rights_holder.name, code) if ds.rights_holder else ""),
        (speech.gettext("Licence"), labelled(ds.licence)),
        (speech.gettext("Access rights"), label(ds.access_rights, code)),
        (speech.gettext("Update frequency"), label(ds.accrual_periodicity, code)),
        (speech.gettext("Languages"), ", ".join(label(u, code) for u in ds.language)),
        (speech.gettext("Issued"), speech.date(ds.issued)),
        (speech.gettext("Modified"), speech.date(ds.modified)),
        (
            speech.gettext("Temporal coverage"),
            "; ".join(f"{speech.date(t.start)} – {speech.date(t.end)}" for t in ds.temporal),
        ),
        (
            speech.gettext("Spatial coverage"),
            "; ".join(filter(None, (place(s, speech, areas) for s in ds.spatial))),
        ),
        (speech.gettext("Identifier"), ", ".join(ds.identifier)),
        (speech.gettext("Version"), ds.version or ""),
        (speech.gettext("Version notes"), text_for(ds.version_notes, code)),
        (speech.gettext("Lineage"), text_for(ds.provenance, code)),
        (
            speech.gettext("Spatial resolution"),
            ", ".join(
                f"{speech.number(float(m), 2 if float(m) % 1 else 0)} m"
                for m in ds.spatial_resolution_in_meters
                if _decimal(m)
            ),
        ),
        (speech.gettext("Temporal resolution"), ds.temporal_resolution or ""),
        (speech.gettext("High-value dataset categories"), ", ".join(labelled(u) for u in ds.hvd_categories)),
    ]
    related = _related_links(request, store, ds, record["source_id"], speech)
    return page(
        request,
        speech,
        "dataset.html",
        {
            "title": text_for(ds.title, code) or record["id"],
            "record": record,
            "ds": ds,
            "description": text_for(ds.description, code),
            "facts": [(k, v) for k, v in facts if v],
            "themes": [(t, labelled(t)) for t in ds.themes],
            "endpoints": web_links(ds.service.endpoint_url) if ds.service else [],
            "endpoint_descriptions": web_links(ds.service.endpoint_description) if ds.service else [],
            "keywords": list(dict.fromkeys(k.value for k in ds.keywords)),
            "distributions": distributions,
            "provenance": provenance,
            "reuses": reuses,
            "related": related,
            "landing_pages": web_links(ds.landing_page),
            "documentation": web_links(ds.documentation),
            "legislation": [(u, legislation_label(u, speech)) for u in web_links(ds.applicable_legislation)],
            "contacts": ds.contact_points,
            "quality": quality,
            "band_label": band_label(quality["band"], speech),
            "quality_labels": quality_labels(speech),
            "max_points": MAX_POINTS,
            "rdf": [
                (f"{base}.ttl", "Turtle"),
                (f"{base}.rdf", "RDF/XML"),
                (f"{base}.jsonld", "JSON-LD"),
                (f"{base}.nt", "N-Triples"),
            ],
            "validation": f"{base}/validation",
            # the stored result of `fedcat validate` (running the shapes here would cost seconds a page)
            "conforms": shacl_results(store, [record["id"]]).get(record["id"]),
            "search_url": lambda facet, value: "/?" + urlencode({facet: value}),
        },
    )


# --- sources and runs ----------------------------------------------------------------------------------------


def _run_view(run: dict[str, Any], lang: Language) -> dict[str, Any]:
    statuses = {
        "complete": lang.gettext("complete"),
        "partial": lang.gettext("partial"),
        "failed": lang.gettext("failed"),
        "running": lang.gettext("running"),
        "interrupted": lang.gettext("interrupted"),
    }
    return {
        **run,
        "message": redact_text(run.get("message") or ""),
        "status_label": statuses.get(run["status"], run["status"]),
        "duration": _duration(run["started_at"], run["ended_at"]),
        "counts": {c: run.get(c) or 0 for c in ("pages", *COUNTERS)},
    }


def _sources(request: Request, lang: Language, runs_each: int) -> list[dict[str, Any]]:
    store, config = request.app.state.store, _config(request)
    configured = {s.id: s for s in config.sources}
    stored = {s["id"]: s for s in store.sources()}
    now = datetime.now(UTC)
    answer = []
    for source_id in sorted(set(configured) | set(stored)):
        source, row = configured.get(source_id), stored.get(source_id) or {}
        upcoming = next_fire(source, now) if source and source.schedule and source.enabled else None
        jurisdiction = source.jurisdiction if source else None
        answer.append(
            {
                "id": source_id,
                "name": source.name if source else row.get("name", source_id),
                "type": source.type if source else row.get("type", ""),
                "url": redact_url(source.url if source else row.get("url", "")),
                "jurisdiction": (jurisdiction.name or jurisdiction.key)
                if jurisdiction
                else (row.get("jurisdiction") or ""),
                "schedule": source.schedule if source else None,
                "enabled": bool(source and source.enabled),
                "configured": source is not None,
                "datasets": row.get("datasets", 0),
                "next_run": upcoming.isoformat() if upcoming else None,
                "runs": [_run_view(r, lang) for r in store.runs(source_id, limit=runs_each)],
            }
        )
    return answer


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request, lang: LangParam = None) -> Response:
    speech = language(request, lang)
    return page(
        request,
        speech,
        "sources.html",
        {"title": speech.gettext("Sources"), "sources": _sources(request, speech, 3)},
    )


def source_page(request: Request, source_id: str) -> Response:
    """A source's page; linked_data's `/sources/{id}` calls it when the client wants HTML."""
    speech = language(request, request.query_params.get("lang"))
    found = [s for s in _sources(request, speech, 20) if s["id"] == source_id]
    if not found:
        return not_found(request, speech, speech.gettext("No source “{id}”.", id=source_id))
    source = found[0]
    return page(
        request,
        speech,
        "source.html",
        {
            "title": source["name"],
            "source": source,
            "rdf": [
                (f"/sources/{source_id}.ttl", "Turtle"),
                (f"/sources/{source_id}.rdf", "RDF/XML"),
                (f"/sources/{source_id}.jsonld", "JSON-LD"),
            ],
        },
    )


def catalog_page(
    request: Request, info: Any, rows: list[Any], view: Any, *, number: int, last: int, first: int
) -> Response:
    """The catalogue's page for people (linked_data's `/catalog` calls it when the client wants HTML): what
    the catalogue is, a search box, its datasets a page at a time in the order of its RDF pages (the same
    `page` / `after` links), and this page in each RDF format. A page, not a redirect to the search page:
    `/catalog` is the `dcat:Catalog`'s IRI, and a person following it should see that catalogue."""
    speech = language(request, request.query_params.get("lang"))
    names = linked_data.source_names(request)
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    here = "?" + urlencode(query) if query else ""

    def local(url: str | None) -> str | None:  # the Hydra links, absolute, as links of this site
        if not url:
            return None
        parts = urlsplit(url)
        return parts.path + ("?" + parts.query if parts.query else "")

    return page(
        request,
        speech,
        "catalog.html",
        {
            "title": info.title,
            "info": info,
            "total": view.total,
            "page_number": number,
            "last_page": last,
            "first": first,
            "items": [
                {
                    "id": row.id,
                    "title": text_for(row.dataset.title, speech.code) or row.id,
                    "publisher": text_for(row.dataset.publisher.name, speech.code)
                    if row.dataset.publisher
                    else "",
                    "source_id": row.source_id,
                    "source": names.get(row.source_id, row.source_id),
                }
                for row in rows
            ],
            "nav": [
                (speech.gettext(name), rel, local(url))
                for name, rel, url in (
                    ("First", "first", view.first),
                    ("Previous", "prev", view.previous),
                    ("Next", "next", view.next),
                    ("Last", "last", view.last),
                )
                if url and (rel not in ("first", "last") or last > 1)
            ],
            "note": view.note,
            "rdf": [
                (f"/catalog.{ext}{here}", name)
                for ext, name in (
                    ("ttl", "Turtle"),
                    ("rdf", "RDF/XML"),
                    ("jsonld", "JSON-LD"),
                    ("nt", "N-Triples"),
                )
            ],
        },
    )


@router.get("/sources/{source_id}/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, source_id: str, run_id: str, lang: LangParam = None) -> Response:
    speech = language(request, lang)
    run = request.app.state.store.run(int(run_id)) if run_id.isdigit() else None
    if run is None or run["source_id"] != source_id:
        return not_found(request, speech, speech.gettext("No harvest run {id} for this source.", id=run_id))
    report = run["report"] or {}
    view = _run_view(run, speech)
    return page(
        request,
        speech,
        "run.html",
        {
            "title": speech.gettext("Harvest run {id}", id=run_id),
            "run": view,
            "source_name": linked_data.source_names(request).get(source_id, source_id),
            "unmapped": report.get("unmapped", {}),
            "errors": [
                {
                    "source_record_id": e.get("source_record_id"),
                    "url": redact_url(e.get("url") or ""),
                    "error": redact_text(e.get("error") or ""),
                }
                for e in run["errors"]
            ],
            "notes": [redact_text(str(note)) for note in report.get("notes", [])],
        },
    )


# --- quality ---------------------------------------------------------------------------------------------------


@router.get("/quality", response_class=HTMLResponse)
def quality_page(request: Request, lang: LangParam = None) -> Response:

    speech = language(request, lang)
    store, names = request.app.state.store, linked_data.source_names(request)
    by_source = quality_report(store, "source", None, names)
    by_publisher = quality_report(store, "publisher", None, names)
    for body in (by_source, by_publisher):
        for group in body["groups"]:
            group["band_label"] = band_label(group["band"], speech)
    bands = [(name, band_label(name, speech)) for name, _low in BANDS]
    chart = [(g["label"], g["mean"]) for g in by_source["groups"][:30]]
    return page(
        request,
        speech,
        "quality.html",
        {
            "title": speech.gettext("Metadata quality"),
            "by_source": by_source,
            "by_publisher": {**by_publisher, "groups": by_publisher["groups"][:100]},
            "bands": bands,
            "chart": chart,
            "max_points": MAX_POINTS,
        },
    )


# --- audit -------------------------------------------------------------------------------------------------------


def _audit(request: Request, lang: Language, **filters: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The audit report as `/api/audit` makes it, or None and the reason (no registry, a bad filter)."""
    if not _config(request).settings.bodies:
        return None, lang.gettext(
            "No registry of public bodies is configured: set settings.bodies in the configuration."
        )
    try:
        with audit_api._lock:
            files, registry = audit_api._registry(request)
            chosen = audit_filters(registry, **filters)
            published, computed_at = audit_api._published(request, files, registry)
    except ApiError as exc:  # the registry's files: their names and the system's words, as the API says
        return None, lang.gettext("The registry of public bodies cannot be read: {why}", why=exc.message)
    except FilterError as exc:
        return None, lang.gettext("A filter was not understood: {why}", why=str(exc))
    body = audit_report(registry, published, chosen)
    body["computed_at"] = computed_at
    return body, None


def _obligation_label(status: str, lang: Language) -> str:
    return {
        "yes": lang.gettext("obliged"),
        "no": lang.gettext("not obliged"),
        "unknown": lang.gettext("unknown"),
    }.get(status, status)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    kind: Annotated[list[str] | None, Query()] = None,
    departement: str | None = None,
    within: Annotated[list[str] | None, Query()] = None,
    obligated_only: bool = False,
    not_publishing: bool = False,
    page_number: Annotated[str, Query(alias="page")] = "1",
    lang: LangParam = None,
) -> Response:
    speech = language(request, lang)
    departement = (departement or "").strip() or None
    kind = [k for k in kind or [] if k.strip()] or None  # the form's "all kinds" sends kind=
    within = [w.strip() for w in within or [] if w.strip()] or None
    body, problem = _audit(
        request,
        speech,
        kinds=kind,
        departement=departement,
        within=within,
        obligated_only=obligated_only,
        not_publishing=not_publishing,
        has=None,
        missing=None,
    )
    size = 100
    number = int(page_number) if page_number.isdigit() and int(page_number) >= 1 else 1
    context: dict[str, Any] = {
        "title": speech.gettext("Publication obligations"),
        "problem": problem,
        "filters": {
            "kind": kind or [],
            "departement": departement or "",
            "within": ", ".join(within or []),
            "obligated_only": obligated_only,
            "not_publishing": not_publishing,
        },
        "obligation_label": lambda s: _obligation_label(s, speech),
    }
    if body is not None:
        items = body["items"]
        for item in items:
            item["obligation_label"] = _obligation_label(item["obligated"], speech)
        summary = body["summary"]
        chart = [
            (f["label"], round(100 * (f["coverage"] or 0), 1)) for f in summary["families"] if f["obligated"]
        ]
        kinds = sorted({i["kind"] for i in items} | set(kind or []))
        query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("page", "lang")]
        context.update(
            summary=summary,
            items=items[(number - 1) * size : number * size],
            total=len(items),
            page_number=number,
            last_page=max(1, -(-len(items) // size)),
            page_url=lambda n: "/audit?" + urlencode([*query, ("page", str(n))]),
            chart=chart,
            kinds=kinds,
            rules=body["rules"],
            computed_at=body["computed_at"],
        )
    return page(
        request,
        speech,
        "audit.html",
        context,
        status=200 if problem is None else 400 if body is None and "filter" in (problem or "") else 200,
    )


def _proposed_entries(places: list[dict[str, Any]]) -> str:
    """The sources.yaml entries proposed for what is not harvested yet, as YAML to paste after review."""
    import yaml

    entries = [p["entry"] for p in places if p["entry"] and not p["harvested"]]
    return yaml.safe_dump({"sources": entries}, allow_unicode=True, sort_keys=False) if entries else ""


@router.get("/audit/{body_id}", response_class=HTMLResponse)
def audit_body_page(request: Request, body_id: str, lang: LangParam = None) -> Response:
    speech = language(request, lang)
    body, problem = _audit(request, speech)  # unfiltered: every body
    if body is None:
        return page(
            request,
            speech,
            "audit.html",
            {"title": speech.gettext("Publication obligations"), "problem": problem, "filters": {}},
        )
    found = [i for i in body["items"] if i["id"] == body_id]
    if not found:
        return not_found(
            request, speech, speech.gettext("No public body “{id}” in the registry.", id=body_id)
        )
    item = found[0]
    families = {f["id"]: f["label"] for f in body["families"]}
    names = linked_data.source_names(request)
    return page(
        request,
        speech,
        "audit_body.html",
        {
            "title": item["name"],
            "item": item,
            "obligation": _obligation_label(item["obligated"], speech),
            "present": [(families.get(f, f), n) for f, n in item["families"].items()],
            "missing": [families.get(f, f) for f in item["families_missing"]],
            "sources": [(s, names.get(s, s)) for s in item["sources"]],
            "search_url": "/?" + urlencode([("jurisdiction", body_id)]),
            "computed_at": body["computed_at"],
            "places": [
                {**p, "source_name": names.get(p["source"], p["source"])} for p in item["publishes_on"]
            ],
            "crawl": item["website_crawl"],
            "proposed": _proposed_entries(item["publishes_on"]),
        },
    )
