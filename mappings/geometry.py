"""Geometry as DCAT-AP writes it: WKT literals for `dcat:bbox` and `locn:geometry` (gsp:wktLiteral, lon lat).

Portals give bounding boxes as four numbers ("W,S,E,N" in data.json, four INSPIRE fields in Opendatasoft) or
as GeoJSON; these small pure functions turn either into WKT, and refuse values that are not coordinates.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .values import as_list

BBox = tuple[float, float, float, float]  # west, south, east, north
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_BBOX_TEXT = re.compile(
    rf"^\s*({_NUMBER})\s*[, ]\s*({_NUMBER})\s*[, ]\s*({_NUMBER})\s*[, ]\s*({_NUMBER})\s*$"
)


def _num(value: float) -> str:
    """Shortest exact form: 2.0 -> "2", 48.6449 -> "48.6449"."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def valid_bbox(west: Any, south: Any, east: Any, north: Any) -> BBox | None:
    """The four numbers as floats when they are longitudes/latitudes with south <= north, else None.

    west > east is kept: a box crossing the antimeridian."""
    try:
        box = (float(west), float(south), float(east), float(north))
    except (TypeError, ValueError):
        return None
    w, s, e, n = box
    if not all(math.isfinite(v) for v in box):
        return None
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
        return None
    return box


def parse_bbox(text: str) -> BBox | None:
    """A "W,S,E,N" (or space-separated) bounding box, as data.json writes it; None for anything else."""
    match = _BBOX_TEXT.match(text)
    return valid_bbox(*match.groups()) if match else None


def bbox_wkt(box: BBox) -> str:
    w, s, e, n = (_num(v) for v in box)
    return f"POLYGON(({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s}))"


def _coords(points: Any) -> str:
    return ", ".join(f"{_num(p[0])} {_num(p[1])}" for p in points)


def _rings(rings: Any) -> str:
    return ", ".join(f"({_coords(ring)})" for ring in rings)


def geojson_wkt(geometry: Any) -> str | None:
    """The WKT of a GeoJSON geometry (or Feature / FeatureCollection); None when it is not one."""
    try:
        return _wkt(geometry)
    except (TypeError, ValueError, KeyError, IndexError):
        return None


# GeoJSON's type names; some portals write them in lower case (GovData: "polygon")
_GEOJSON_TYPES = {
    name.lower(): name
    for name in (
        "Feature",
        "FeatureCollection",
        "GeometryCollection",
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
    )
}


def _wkt(geometry: Any) -> str | None:
    if not isinstance(geometry, dict):
        return None
    given, coords = geometry.get("type"), geometry.get("coordinates")
    kind = _GEOJSON_TYPES.get(given.lower()) if isinstance(given, str) else None
    if kind == "Feature":
        return _wkt(geometry.get("geometry"))
    if kind == "FeatureCollection":
        parts = [w for f in as_list(geometry.get("features")) if (w := _wkt(f))]
        return f"GEOMETRYCOLLECTION({', '.join(parts)})" if parts else None
    if kind == "GeometryCollection":
        parts = [w for g in as_list(geometry.get("geometries")) if (w := _wkt(g))]
        return f"GEOMETRYCOLLECTION({', '.join(parts)})" if parts else None
    if not coords:
        return None
    if kind == "Point":
        return f"POINT({_num(coords[0])} {_num(coords[1])})"
    if kind == "MultiPoint":
        return f"MULTIPOINT({_coords(coords)})"
    if kind == "LineString":
        return f"LINESTRING({_coords(coords)})"
    if kind == "MultiLineString":
        return f"MULTILINESTRING({_rings(coords)})"
    if kind == "Polygon":
        return f"POLYGON({_rings(coords)})"
    if kind == "MultiPolygon":
        return f"MULTIPOLYGON({', '.join(f'({_rings(p)})' for p in coords)})"
    return None


def geojson_bbox(geometry: Any) -> BBox | None:
    """The bounding box of a GeoJSON geometry (its `bbox` member when it has a valid one)."""
    if not isinstance(geometry, dict):
        return None
    given = geometry.get("bbox")
    if isinstance(given, list) and len(given) == 4 and (box := valid_bbox(*given)):
        return box
    xs: list[float] = []
    ys: list[float] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("coordinates", "geometry", "geometries", "features"):
                if key in node:
                    walk(node[key])
        elif isinstance(node, list):
            if len(node) >= 2 and all(isinstance(v, int | float) for v in node[:2]):
                xs.append(float(node[0]))
                ys.append(float(node[1]))
            else:
                for item in node:
                    walk(item)

    walk(geometry)
    return valid_bbox(min(xs), min(ys), max(xs), max(ys)) if xs else None


def wkt_bbox(wkt: str) -> BBox | None:
    """The bounding box of a 2D WKT geometry given as text (its coordinates read pairwise, lon lat)."""
    numbers = [float(n) for n in re.findall(_NUMBER, wkt)]
    if len(numbers) < 2 or len(numbers) % 2:
        return None
    xs, ys = numbers[0::2], numbers[1::2]
    return valid_bbox(min(xs), min(ys), max(xs), max(ys))


# "<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POLYGON((…))": GeoSPARQL WKT with its CRS first
_WKT_WITH_CRS = re.compile(r"^<[^<>\s]+>\s*[A-Za-z]")
_WKT_START = re.compile(
    r"^(?:SRID=\d+;\s*)?(?:MULTI)?(?:POINT|LINESTRING|POLYGON|GEOMETRYCOLLECTION)\b", re.I
)


def geometry_syntax(value: str) -> str:
    """The encoding of a geometry literal, read from its content: "geojson", "gml" or "wkt"."""
    text = value.lstrip()
    if text.startswith(("{", "[")):
        return "geojson"
    if text.startswith("<") and not _WKT_WITH_CRS.match(text):
        return "gml"  # an element: <gml:Envelope …>, <gml:Polygon …>
    return "wkt"


def is_wkt(value: str) -> bool:
    """Whether a literal is WKT (with or without its CRS IRI first), the encoding search filters read."""
    text = value.lstrip()
    if _WKT_WITH_CRS.match(text):
        text = text.split(">", 1)[1].lstrip()
    return bool(_WKT_START.match(text))


def _box_of(value: str) -> BBox | None:
    """The box of one geometry literal: WKT (its CRS IRI skipped) or GeoJSON; GML is not read."""
    if geometry_syntax(value) == "geojson":
        try:
            return geojson_bbox(json.loads(value))
        except (ValueError, RecursionError):  # not JSON, or nested past Python's stack
            return None
    if not is_wkt(value):
        return None
    return wkt_bbox(re.sub(r"^\s*<[^>]*>\s*", "", value))


def extent(wkts: list[str]) -> BBox | None:
    """The box covering these geometry literals (WKT or GeoJSON; CRS84 / WGS 84 lon lat is assumed); one
    crossing the antimeridian is kept alone, as boxes across it cannot be unioned simply."""
    boxes = [b for w in wkts if (b := _box_of(w))]
    if not boxes:
        return None
    crossing = [b for b in boxes if b[0] > b[2]]
    if crossing:
        return crossing[0]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
