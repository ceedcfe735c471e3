"""`type: ckan` — a CKAN package dict (Action API `package_search` result, canonical JSON) → Dataset.

The plain renames are data (mappings/fieldmaps/ckan.yaml); this module reads what a rename cannot: extras as
legacy key/value lists, translated fields, groups that name EU themes, ckanext-dcat's and ckanext-spatial's
extras, checksums told by their length.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from . import normalise
from .context import SourceContext
from .fieldmap import FieldMap, fieldmap
from .geometry import bbox_wkt, geojson_bbox, geojson_wkt, valid_bbox
from .model import (
    Agent,
    Checksum,
    ContactPoint,
    DataService,
    Dataset,
    Distribution,
    Location,
    PeriodOfTime,
    Relationship,
    Text,
)
from .namespaces import SPDX
from .values import ValueMapper, absolute_links, as_list, is_iri

# legacy extras that hold lists as comma-joined text ("en,es,ca") rather than JSON
LIST_EXTRAS = ("language", "theme", "conforms_to", "documentation", "alternate_identifier")
TEMPORAL_EXTRAS = (
    ("temporal_start", "temporal_end"),  # ckanext-dcat
    ("temporal_coverage-from", "temporal_coverage-to"),  # ckanext-spatial (INSPIRE harvests)
    ("temporal_coverage_from", "temporal_coverage_to"),
)
RESOURCE_LINKS = ("url", "access_url", "download_url")
HEX = re.compile(r"^[0-9a-fA-F]+$")
CHECKSUM_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}


def map_package(payload: bytes, uri: str, source: SourceContext, parsed: Any = None) -> Dataset:
    """One CKAN package (`parsed`: the package dict already decoded from `payload`) as fedcat's `uri`."""
    package = parsed if parsed is not None else json.loads(payload)
    view = _view(package)
    extras = view["extras"]
    values = ValueMapper()
    fields = fieldmap("ckan")
    lang = source.language
    root = source.url.rstrip("/")
    found = fields.apply("dataset", view, values, lang)
    keywords = (
        texts(view.get("tags_translated"), lang)
        or texts(view.get("keywords"), lang)  # opendata.swiss: {"de": [...], "fr": [...]}
        # tag dicts, or tag names (DKAN, CKAN 1 API)
        or texts([t.get("name") if isinstance(t, dict) else t for t in as_list(view.get("tags"))], lang)
    )
    themes = values.themes(_strings(view.get("theme")) or _strings(extras.get("theme")))
    places: list[Location] = []
    for group in as_list(view.get("groups")):
        if isinstance(group, str):  # a group named only by its name
            group = {"name": group}
        if isinstance(group, dict):
            _group(group, themes, places, keywords, values, lang)
    licence = found.get("licence")
    distributions = [
        _distribution(absolute_links(r, RESOURCE_LINKS, root + "/", values), fields, values, lang, licence)
        for r in as_list(view.get("resources"))
        if isinstance(r, dict)
    ]
    if licence is None:  # licensed per resource only (opendata.swiss): the dataset's when they agree
        licences = {d.licence for d in distributions if d.licence}
        found["licence"] = licences.pop() if len(licences) == 1 else None
    landing = view.get("url") if isinstance(view.get("url"), str) and is_iri(view["url"].strip()) else None
    return Dataset(
        uri=uri,
        # ckanext-dcat's subject for a package: its `uri` field, else <root>/dataset/<id>
        original_uri=_iri(view.get("uri")) or _iri(extras.get("uri")) or f"{root}/dataset/{package['id']}",
        title=texts(view.get("title_translated"), lang) or texts(view.get("title"), lang),
        description=texts(view.get("notes_translated"), lang)
        or texts(view.get("notes"), lang)
        or texts(view.get("description"), lang),
        **_identifiers(view),
        keywords=_unique_texts(keywords),
        themes=themes,
        publisher=_agent("publisher", view, fields, values, lang, root),
        creator=_agent("creator", view, fields, values, lang, root),
        contact_points=_contacts(view, fields, values),
        distributions=distributions,
        temporal=_temporal(view, fields, values),
        spatial=_spatial(view, lang) + places,
        # the package's own link when it gives one, else its CKAN page (udata's CKAN harvester does the
        # same for `harvest.remote_url`, so copies of this package elsewhere point here)
        landing_page=[landing.strip() if landing else f"{root}/dataset/{view.get('name') or package['id']}"],
        qualified_relation=_relations(view.get("qualified_relation") or extras.get("qualified_relation")),
        in_series=_series(view, extras, source),
        is_series=view.get("type") == "dataset_series",
        **found,
        unmapped=values.unmapped,
    )


def _relations(value: Any) -> list[Relationship]:
    """ckanext-dcat's `qualified_relation`: a list of {relation, role} dicts."""
    return [
        Relationship(relation=relation, role=next((r.strip() for r in _strings(item.get("role"))), None))
        for item in (value if isinstance(value, list) else ())
        if isinstance(item, dict) and (relation := _iri(item.get("relation")))
    ]


def _series(view: dict[str, Any], extras: dict[str, Any], source: SourceContext) -> list[str]:
    """ckanext-dcat's `in_series`: the ids of the series packages of the same portal, as fedcat's URIs of
    their records (their IRIs when the context cannot name records)."""
    ids = _strings(view.get("in_series")) or _strings(extras.get("in_series"))
    if source.record_uri is not None:
        return [source.record_uri(i) for i in ids]
    return [i for i in ids if is_iri(i)]


def _view(package: dict[str, Any]) -> dict[str, Any]:
    """The package with `extras` as a mapping, JSON-encoded values decoded (what the field map reads)."""
    raw = package.get("extras")
    pairs = (
        raw.items()
        if isinstance(raw, dict)
        else ((e.get("key"), e.get("value")) for e in as_list(raw) if isinstance(e, dict))
    )
    extras: dict[str, Any] = {}
    for given, value in pairs:
        if not isinstance(given, str):
            continue
        # portals' own spellings of the same key ("Spatial", "Temporal_Start "): the lower-case one wins
        key = given.strip().lower()
        if key in extras and given != key:
            continue
        value = _decoded(value)
        if key in LIST_EXTRAS and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        extras[key] = value
    return {**package, "extras": extras}


def _decoded(value: Any) -> Any:
    """A list or dict that ckanext-dcat's legacy profiles store as JSON text (extras, and resource fields such
    as `language` or `access_services`), decoded; text that merely starts with a bracket stays text."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def texts(value: Any, lang: str | None = None) -> list[Text]:
    """Free text as CKAN portals give it: a string (or a number), a list, or a language dict ({"de": …, "fr": …} or
    {"en": ["a", "b"]}), each text keeping its language."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # a title that is a year, a number
    if isinstance(value, str):
        return [Text(value.strip(), lang)] if value.strip() else []
    if isinstance(value, dict):
        return [
            t for key, v in value.items() for t in texts(v, key if isinstance(key, str) and key else lang)
        ]
    if isinstance(value, list):
        return [t for v in value for t in texts(v, lang)]
    return []


def _unique_texts(values: list[Text]) -> list[Text]:
    seen: set[tuple[str, str | None]] = set()  # Text is not hashable
    unique = []
    for t in values:
        if (t.value, t.lang) not in seen:
            seen.add((t.value, t.lang))
            unique.append(t)
    return unique


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def _iri(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and is_iri(value.strip()) else None


def _identifiers(view: dict[str, Any]) -> dict[str, Any]:
    """dct:identifier as ckanext-dcat writes it (`identifier`, else `guid`, else the package id); the
    alternate identifiers and the package id, when not already the identifier, as adms:identifier."""
    extras = view["extras"]
    given = next(
        (
            v.strip()
            for v in (view.get("identifier"), extras.get("identifier"), extras.get("guid"))
            if isinstance(v, str) and v.strip()
        ),
        None,
    )
    identifier = [given or view["id"]]
    alternates = _strings(view.get("alternate_identifier")) or _strings(extras.get("alternate_identifier"))
    others = [i for i in dict.fromkeys([*alternates, view["id"]]) if i not in identifier]
    return {"identifier": identifier, "other_identifier": others}


def _group(
    group: dict[str, Any],
    themes: list[str],
    places: list[Location],
    keywords: list[Text],
    values: ValueMapper,
    lang: str | None,
) -> None:
    """A CKAN group is a theme when one of its names is an EU data theme, a place when its title names a
    country (HDX groups datasets by country), else a keyword (noted unmapped)."""
    labels = texts(group.get("title"), lang) or texts(group.get("display_name"), lang)
    candidates = [t.value for t in labels] + _strings(group.get("name"))
    for candidate in candidates:
        if matches := normalise.theme_uris(candidate):
            themes.extend(m.uri for m in matches if m.uri not in themes)
            return
    country = next((found for t in labels if (found := normalise.country_uri(t.value))), None)
    if country is not None:
        if all(place.uri != country.uri for place in places):
            places.append(Location(uri=country.uri, label=labels))
        return
    if not labels and candidates:
        labels = [Text(candidates[0], lang)]
    keywords.extend(labels)
    if labels:
        values.note("theme", labels[0].value)


def _agent(
    role: str, view: dict[str, Any], fields: FieldMap, values: ValueMapper, lang: str | None, root: str
) -> Agent | None:
    """ckanext-dcat's publisher/creator fields; the publisher falls back on the package's organization."""
    extras = view["extras"]
    first = (
        next((a for a in as_list(view.get(role)) if isinstance(a, dict)), {})
        if isinstance(view.get(role), list)
        else {}
    )
    name = (
        texts(first.get("name_translated"), lang)
        or texts(first.get("name"), lang)
        or texts(extras.get(f"{role}_name"), lang)
        or texts(extras.get(f"dcat_{role}_name"), lang)
    )
    found = fields.apply(role, view, values)
    organization = view.get("organization")
    if role == "publisher" and isinstance(organization, dict):
        name = name or texts(organization.get("title"), lang) or texts(organization.get("name"), lang)
        if "uri" not in found and (handle := organization.get("name") or organization.get("id")):
            found["uri"] = f"{root}/organization/{handle}"  # ckanext-dcat's fallback publisher URI
    if not name and not found:
        return None
    return Agent(name=_unique_texts(name), **found)


def _contacts(view: dict[str, Any], fields: FieldMap, values: ValueMapper) -> list[ContactPoint]:
    """Scheming `contact` dicts, opendata.swiss `contact_points`, else the legacy contact extras, else the
    maintainer, else the author (ckanext-dcat's order)."""
    extras = view["extras"]
    dicts = [
        c for key in ("contact", "contact_points") for c in as_list(view.get(key)) if isinstance(c, dict)
    ]
    organization = None
    if not dicts:
        for name, email in (
            (extras.get("contact_name"), extras.get("contact_email") or extras.get("contact-email")),
            (view.get("maintainer"), view.get("maintainer_email")),
            (view.get("author"), view.get("author_email")),
        ):
            if _strings(name) or _strings(email):
                person = _person(name)
                if person:  # a JSON object in a text field (EnviDat): its parts, not its text
                    name, email, organization = (
                        person["name"],
                        email or person["email"],
                        person["affiliation"],
                    )
                dicts = [{"name": name, "email": email, "uri": extras.get("contact_uri")}]
                break
    return [
        ContactPoint(**c, organization=organization)
        for d in dicts
        if (c := fields.apply("contact_point", d, values))
    ]


def _person(value: Any) -> dict[str, str | None] | None:
    """A person written as JSON in a CKAN text field ('{"given_name": "Ana", "name": "Rossi", "email": …,
    "affiliation": "WSL"}', or a list of them: the first), None for plain text."""
    if not isinstance(value, str) or value.strip()[:1] not in ("{", "["):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if isinstance(parsed, list):
        parsed = next((p for p in parsed if isinstance(p, dict)), None)
    if not isinstance(parsed, dict):
        return None

    def text(*keys: str) -> str | None:
        found = [
            str(parsed[k]).strip()
            for k in keys
            if isinstance(parsed.get(k), str | int) and str(parsed[k]).strip()
        ]
        return " ".join(found) or None

    name = text("given_name", "name") or text("full_name") or text("fullname")
    affiliation = parsed.get("affiliation")
    if isinstance(affiliation, dict):
        affiliation = affiliation.get("name")
    return {
        "name": name,
        "email": text("email"),
        "affiliation": str(affiliation).strip() or None if isinstance(affiliation, str) else None,
    }


def _distribution(
    resource: dict[str, Any], fields: FieldMap, values: ValueMapper, lang: str | None, licence: str | None
) -> Distribution:
    decoded = {k: _decoded(v) for k, v in resource.items() if isinstance(v, str) and v[:1] in ("[", "{")}
    resource = {**resource, **decoded} if decoded else resource
    found = fields.apply("distribution", resource, values, lang)
    found.setdefault("licence", licence)
    services = resource.get("access_services")
    found["access_service"] = [
        service
        for item in (services if isinstance(services, list) else [services])
        if (service := _access_service(item, fields, values, lang))
    ]
    digest = resource.get("hash")
    if isinstance(digest, str) and digest.strip():
        digest = digest.strip()
        algorithm = _iri(resource.get("hash_algorithm"))
        if algorithm is None and HEX.match(digest) and len(digest) in CHECKSUM_BY_LENGTH:
            algorithm = f"{SPDX}checksumAlgorithm_{CHECKSUM_BY_LENGTH[len(digest)]}"  # told by its length
        if algorithm:
            found["checksum"] = Checksum(algorithm=algorithm, value=digest)
    return Distribution(
        title=texts(resource.get("name_translated"), lang) or texts(resource.get("name"), lang),
        description=texts(resource.get("description_translated"), lang)
        or texts(resource.get("description"), lang),
        **found,
    )


def _access_service(item: Any, fields: FieldMap, values: ValueMapper, lang: str | None) -> DataService | None:
    """A resource's `access_services` item: ckanext-dcat's dict of the service, or the service's IRI
    (opendata.swiss)."""
    if isinstance(item, str):
        return DataService(uri=iri) if (iri := _iri(item)) else None
    if not isinstance(item, dict):
        return None
    service = DataService(
        title=texts(item.get("title"), lang),
        description=texts(item.get("description"), lang),
        **fields.apply("access_service", item, values, lang),
    )
    return service if service != DataService() else None


def _temporal(view: dict[str, Any], fields: FieldMap, values: ValueMapper) -> list[PeriodOfTime]:
    extras = view["extras"]
    spans = [s for s in as_list(view.get("temporal_coverage")) if isinstance(s, dict)]
    spans += [
        {"start": extras.get(a), "end": extras.get(b)}
        for a, b in TEMPORAL_EXTRAS
        if a in extras or b in extras
    ]
    return [PeriodOfTime(**found) for span in spans if (found := fields.apply("temporal", span, values))]


def _spatial(view: dict[str, Any], lang: str | None) -> list[Location]:
    """Spatial coverage: scheming `spatial_coverage` dicts, else ckanext-dcat's and ckanext-spatial's extras
    (`spatial` GeoJSON, `spatial_uri`, `spatial_text`, `spatial_bbox`, `spatial_centroid`, `bbox-*`)."""
    extras = view["extras"]
    coverages = [c for c in as_list(view.get("spatial_coverage")) if isinstance(c, dict)]
    if not coverages:
        text = next(
            (
                extras[k]
                for k in ("spatial_text", "spatial-text", "spatial_coverage")
                if _strings(extras.get(k))
            ),
            None,
        )
        coverages = [
            {
                "geom": extras.get("spatial"),
                "uri": extras.get("spatial_uri") or extras.get("spatial-uri"),
                "text": text,
                "bbox": extras.get("spatial_bbox"),
                "centroid": extras.get("spatial_centroid"),
            }
        ]
    locations = []
    for coverage in coverages:
        geometry = coverage.get("geom")
        box = geojson_bbox(coverage.get("bbox")) or geojson_bbox(geometry)
        if box is None:
            box = valid_bbox(
                *(extras.get(f"bbox-{k}") for k in ("west-long", "south-lat", "east-long", "north-lat"))
            )
        location = Location(
            uri=_iri(coverage.get("uri")),
            label=texts(coverage.get("text"), lang),
            geometry=geojson_wkt(geometry),
            bbox=bbox_wkt(box) if box else None,
            centroid=geojson_wkt(coverage.get("centroid")),
        )
        if location != Location():
            locations.append(location)
    return locations
