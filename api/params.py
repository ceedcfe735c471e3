"""Request parameters shared by several routers: the search filters (one declaration for the search API and
the filtered catalogue), dates, facets, and the refusal of parameters an endpoint does not know."""

# No `from __future__ import annotations`: FastAPI reads the dependencies' annotations at run time.
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.dependencies.models import Dependant

from ..indexer.backend import FACETS, SearchQuery
from ..mappings import normalise, vocabularies
from ..mappings.geometry import parse_bbox
from ..mappings.quality import BAND_NAMES
from ..mappings.vocabularies import Match
from .errors import ApiError

_DATE_PARAM = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")

DatasetId = Annotated[str, Path(description="fedcat's id of the record, as in search results.")]


def date_param(name: str, value: str | None) -> str | None:
    """A YYYY-MM-DD, YYYY-MM or YYYY date as given; None when empty; a 400 naming `name` otherwise."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    match = _DATE_PARAM.match(value)
    valid = False
    if match:
        try:
            date(int(match[1]), int(match[2] or 1), int(match[3] or 1))
            valid = True
        except ValueError:
            pass
    if not valid:
        raise ApiError(400, f"{name} must be a date YYYY-MM-DD (or YYYY-MM, or YYYY), got {value!r}", name)
    return value


def bbox_param(value: str | None) -> tuple[float, float, float, float] | None:
    """minlon,minlat,maxlon,maxlat as four floats; None when empty; a 400 naming `bbox` otherwise."""
    if value is None or not value.strip():
        return None
    box = parse_bbox(value)
    if box is None:
        raise ApiError(
            400,
            "bbox must be minlon,minlat,maxlon,maxlat in degrees (longitudes -180..180, latitudes -90..90, "
            f"minlat <= maxlat; minlon > maxlon crosses the antimeridian), got {value!r}",
            "bbox",
        )
    return box


def facets_param(values: list[str] | None) -> tuple[str, ...]:
    if values is None:
        return FACETS
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in FACETS]
    if unknown:
        raise _unknown("facets", "facet", unknown, FACETS)
    return tuple(dict.fromkeys(names))


def search_filters(**parameters: list[str] | None) -> dict[str, list[str]]:
    """Facet filters from request parameters, as the index holds their values (keywords and rating bands
    lowercased; themes, formats, licences and languages also as the URIs their codes and spellings name)."""
    filters = {}
    for facet, values in parameters.items():
        if values and facet in FACETS:
            lowered = facet in ("keyword", "quality", "has_reuses")
            cleaned = _clean([v.lower() for v in values] if lowered else values)
            if facet in _RESOLVERS:
                cleaned = list(dict.fromkeys(r for v in cleaned for r in _resolve(facet, v)))
            if cleaned:
                filters[facet] = cleaned
    return filters


# the harvest's own resolvers: `TRAN`, `transports`, `csv`, `text/csv`, `etalab-2.0`, `fr` find what the
# index holds (the EU URI), as the harvest turned the same spellings into it
_RESOLVERS: dict[str, Callable[[str], list[Match]]] = {
    "theme": normalise.theme_uris,
    "format": lambda v: [m for m in (normalise.format_uri(v),) if m],
    "licence": lambda v: [m for m in (normalise.licence_uri(v),) if m],
    "language": lambda v: [m for m in (normalise.language_uri(v),) if m],
}
THEME_CODES = tuple(sorted(u.rsplit("/", 1)[-1] for u in vocabularies.vocabulary("data-theme").labels))


def _resolve(facet: str, value: str) -> list[str]:
    """The value and the URIs it names. A value that names nothing is kept as given: formats and licences
    no vocabulary knows are indexed as the source wrote them, themes outside the EU's by their IRI; but a
    theme that is neither an IRI nor an EU theme can match nothing, and says so."""
    uris = [m.uri for m in _RESOLVERS[facet](value)]
    if not uris and facet == "theme" and not vocabularies.is_url(value):
        raise ApiError(
            400,
            f"theme: {value!r} is no EU data theme; give a code ({', '.join(THEME_CODES)}), a theme's "
            "label (Transport, Environnement…) or a theme IRI",
            "theme",
        )
    return list(dict.fromkeys([*uris, value]))


def check_closed_sets(
    request: Request,
    source: list[str] | None,
    quality: list[str] | None,
    has_reuses: list[str] | None = None,
) -> None:
    """Sources, rating bands and has_reuses are closed sets: a value outside them is a 400 listing the
    accepted ones, not an empty answer."""
    bands = [b for b in _clean([q.lower() for q in quality or ()]) if b not in BAND_NAMES]
    if bands:
        raise _unknown("quality", "rating", bands, BAND_NAMES)
    answers = [a for a in _clean([v.lower() for v in has_reuses or ()]) if a not in ("true", "false")]
    if answers:
        raise _unknown("has_reuses", "value", answers, ("true", "false"))
    wanted = _clean(source or [])
    if not wanted:
        return
    known = {s.id for s in request.app.state.config.sources}
    if all(s in known for s in wanted):
        return
    known |= {row["id"] for row in request.app.state.store.sources()}  # sources no longer configured
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise _unknown("source", "source", unknown, sorted(known))


def _unknown(parameter: str, what: str, unknown: list[str], accepted: Iterable[str]) -> ApiError:
    """The 400 for values outside a closed set, naming them and listing the accepted ones."""
    return ApiError(
        400,
        f"{parameter}: unknown {what} {', '.join(map(repr, unknown))}; {what}s are {', '.join(accepted)}",
        parameter,
    )


def _clean(values: list[str]) -> list[str]:
    """Trimmed, non-empty, distinct: `theme=` alone constrains nothing."""
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


def _filter_param(facet: str, what: str) -> Any:
    return Query(
        description=f"Keep datasets whose {facet} is {what}. Repeat the parameter to accept any of "
        "several values (OR); different filters combine with AND. Values are those of the "
        f"`{facet}` facet.",
    )


@dataclass(frozen=True, slots=True)
class SearchParams:
    """What to find: words, facet filters and a modified-date range, checked."""

    q: str
    filters: dict[str, list[str]]
    modified_after: str | None
    modified_before: str | None
    bbox: tuple[float, float, float, float] | None = None

    @property
    def filtered(self) -> bool:
        return bool(
            self.filters or self.q.strip() or self.modified_after or self.modified_before or self.bbox
        )

    def query(self, page: int, page_size: int, **options: Any) -> SearchQuery:
        """The backend's query for one page (`sort`, `facets` in `options`)."""
        return SearchQuery(
            q=self.q,
            filters=self.filters,
            modified_after=self.modified_after,
            modified_before=self.modified_before,
            bbox=self.bbox,
            page=page,
            page_size=page_size,
            **options,
        )


def search_params(
    request: Request,
    q: Annotated[
        str,
        Query(
            max_length=1000,
            description="Words to find in titles, descriptions, keywords and publisher names; every "
            "word must match. Case, accents and French/English plurals are ignored ('velo' finds "
            "'Vélos'). Empty: every dataset.",
        ),
    ] = "",
    publisher: Annotated[list[str] | None, _filter_param("publisher", "this name")] = None,
    theme: Annotated[
        list[str] | None,
        _filter_param(
            "theme", "this theme: an EU data-theme code (TRAN), label (Transports) or URI, or another IRI"
        ),
    ] = None,
    format: Annotated[
        list[str] | None,
        _filter_param(
            "format",
            "this format: an EU file-type code (CSV), media type (text/csv) or URI, or the source's own label",
        ),
    ] = None,
    licence: Annotated[
        list[str] | None,
        _filter_param("licence", "this licence: a URI, an SPDX id (etalab-2.0, CC-BY-4.0) or name"),
    ] = None,
    keyword: Annotated[list[str] | None, _filter_param("keyword", "this keyword (case-insensitive)")] = None,
    source: Annotated[list[str] | None, _filter_param("source", "this source id")] = None,
    language: Annotated[
        list[str] | None, _filter_param("language", "this language: a code (fr, FRA), a name or the EU URI")
    ] = None,
    jurisdiction: Annotated[
        list[str] | None,
        _filter_param("jurisdiction", "this jurisdiction (level:code, e.g. commune:59350)"),
    ] = None,
    quality: Annotated[
        list[str] | None,
        _filter_param("quality", "this metadata quality rating (excellent, good, sufficient, bad)"),
    ] = None,
    has_reuses: Annotated[
        list[str] | None,
        Query(
            description="true: keep datasets a portal lists reuses of (an application, a visualisation, an "
            "article…, of the dataset or of a copy of it); false: those without. Values are those of the "
            "`has_reuses` facet."
        ),
    ] = None,
    modified_after: Annotated[
        str | None,
        Query(
            description="Keep datasets modified on or after this date: YYYY-MM-DD, or YYYY-MM / YYYY "
            "for the start of that month or year.",
            examples=["2023-01-01"],
        ),
    ] = None,
    modified_before: Annotated[
        str | None,
        Query(
            description="Keep datasets modified on or before this date: YYYY-MM-DD, or YYYY-MM / YYYY "
            "for the end of that month or year (2020 includes 2020-12-31).",
            examples=["2024-12-31"],
        ),
    ] = None,
    bbox: Annotated[
        str | None,
        Query(
            description="Keep datasets whose spatial coverage (dcat:bbox, locn:geometry) intersects this "
            "box: minlon,minlat,maxlon,maxlat in degrees (WGS 84). minlon > maxlon crosses the "
            "antimeridian. Datasets without a spatial coverage are left out.",
            examples=["2.9,50.5,3.3,50.8"],
        ),
    ] = None,
) -> SearchParams:
    """The search parameters of the search API and of the filtered catalogue: declared once, here."""
    check_closed_sets(request, source, quality, has_reuses)
    return SearchParams(
        q=q,
        filters=search_filters(
            publisher=publisher,
            theme=theme,
            format=format,
            licence=licence,
            keyword=keyword,
            source=source,
            language=language,
            jurisdiction=jurisdiction,
            quality=quality,
            has_reuses=has_reuses,
        ),
        modified_after=date_param("modified_after", modified_after),
        modified_before=date_param("modified_before", modified_before),
        bbox=bbox_param(bbox),
    )


# route dependant -> (that dependant, the query parameter names it and its dependencies accept); the
# dependant is kept so that an id reused after an app is freed can never match
_known_parameters: dict[int, tuple[Dependant, frozenset[str]]] = {}


def _query_names(dependant: Dependant) -> frozenset[str]:
    cached = _known_parameters.get(id(dependant))
    if cached is not None and cached[0] is dependant:
        return cached[1]
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(p.alias for p in current.query_params)
        pending.extend(current.dependencies)
    known = frozenset(names)
    _known_parameters[id(dependant)] = (dependant, known)
    return known


async def reject_unknown_parameters(request: Request) -> None:
    """A misspelt filter (`?themes=`) would otherwise be ignored and silently widen the results.

    async: a trivial check, not worth a thread-pool hop per request. The names a route accepts include its
    dependencies' (the shared search parameters).
    """
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        raise ApiError(
            400,
            f"unknown parameter {', '.join(map(repr, unknown))} (this endpoint accepts: {accepted})",
            unknown[0],
        )
