"""`type: udata` — a udata dataset object (API v1, canonical JSON) → Dataset.

The plain renames are data (mappings/fieldmaps/udata.yaml); this module reads the harvest block (a dataset
udata copied from another portal keeps that portal's identity), owners, checksums, schemas and GeoZones.
"""

from __future__ import annotations

import json
from typing import Any

from . import normalise
from .context import SourceContext
from .fieldmap import FieldMap, fieldmap
from .geometry import bbox_wkt, geojson_bbox, geojson_wkt
from .model import (
    Agent,
    Checksum,
    ContactPoint,
    Dataset,
    Distribution,
    Location,
    PeriodOfTime,
    Text,
)
from .namespaces import SPDX
from .values import ValueMapper, absolute_links, as_list, is_iri, stripped


def _unique(values: list[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def map_dataset(payload: bytes, uri: str, source: SourceContext, parsed: Any = None) -> Dataset:
    """One udata dataset (`parsed`: the object already decoded from `payload`) as fedcat's `uri`."""
    item = parsed if parsed is not None else json.loads(payload)
    values = ValueMapper()
    fields = fieldmap("udata")
    lang = source.language  # udata does not tag its texts; a source may say
    root = source.url.rstrip("/") + "/"
    found = fields.apply("dataset", item, values, lang)
    harvest = item.get("harvest") if isinstance(item.get("harvest"), dict) else {}
    keywords = found.pop("keywords", [])
    tags = [k.value for k in keywords]
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
            for cp in as_list(item.get("contact_points"))
            if isinstance(cp, dict) and (c := fields.apply("contact_point", cp, values))
        ],
        distributions=[
            _distribution(absolute_links(r, ("url", "latest"), root, values), fields, values, lang, licence)
            for r in as_list(item.get("resources"))
            if isinstance(r, dict)
        ],
        temporal=_temporal(item.get("temporal_coverage"), fields, values),
        spatial=_spatial(item.get("spatial"), values),
        landing_page=landing_page,
        **found,
        unmapped=values.unmapped,
    )


def _iri(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and is_iri(value.strip()) else None


def _identifiers(item: dict[str, Any], harvest: dict[str, Any]) -> dict[str, Any]:
    """dct:identifier: the origin's identifier of a harvested dataset, else udata's id (udata's own DCAT
    export does the same). adms:identifier: udata's id and the origin's record id (a CKAN package id, a DCAT
    URI…), the keys deduplication matches copies of one dataset on."""
    identifier = _unique([stripped(harvest.get("dct_identifier")) or item["id"]])
    others = [i for i in _unique([item["id"], stripped(harvest.get("remote_id"))]) if i not in identifier]
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
