"""What a body's website says about where it publishes: links that name a catalogue fedcat can harvest.

`classify(url, media_type)` reads one link (an `<a href>` or a `<link rel="alternate" type=…>`) and returns
the source it points to, if any: a DCAT file (Turtle, RDF/XML, JSON-LD), a `data.json`, or the portal of a
known platform (Opendatasoft `/explore/`, udata `/datasets/`, CKAN `/dataset/`, ArcGIS Hub, Socrata,
GeoNetwork's CSW). Pure functions: the crawl (harvester/crawl.py, `mode: discover`) calls them on each page;
`fedcat discover` turns what they found into `sources.yaml` entries to review, never added by itself.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

# <link type=…> / file name endings of DCAT documents fedcat's `dcat` type reads
_DCAT_TYPES = {"text/turtle", "application/rdf+xml", "application/ld+json", "application/n-triples"}
_DCAT_ENDINGS = (".ttl", ".rdf", ".jsonld", ".nt")
_DCAT_WORDS = re.compile(r"(dcat|catalog|catalogue)", re.I)

# (source type, pattern on the link's path, where the portal's root ends)
_PORTALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("opendatasoft", re.compile(r"^(?P<root>(?:/[a-z]{2})?)/explore(?:/|$)")),
    ("ckan", re.compile(r"^(?P<root>.*?)/dataset/[^/]+")),
    ("udata", re.compile(r"^(?P<root>(?:/[a-z]{2})?)/datasets/[^/]+")),
    ("csw", re.compile(r"^(?P<root>.*?/geonetwork)(?:/|$)")),
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def classify(url: str, media_type: str | None = None) -> dict[str, str] | None:
    """The source a link points to as `{"type": …, "url": …}`, or None when it names none fedcat knows."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host, path = parts.hostname.lower(), parts.path or "/"
    kind = (media_type or "").split(";")[0].strip().lower()
    document = f"{parts.scheme}://{parts.netloc}{path}"
    if path.endswith("/data.json"):
        return {"type": "datajson", "url": document}
    if kind in _DCAT_TYPES or (path.lower().endswith(_DCAT_ENDINGS) and _DCAT_WORDS.search(path)):
        return {"type": "dcat", "url": url.split("#")[0]}
    if host.endswith(".hub.arcgis.com") or (host.endswith(".arcgis.com") and "/datasets/" in path):
        return {"type": "datajson", "url": f"{_origin(url)}/data.json"}
    if host.startswith("data.") and re.match(r"^/(?:d|dataset|browse)(?:/|$)", path) and "socrata" in host:
        return {"type": "datajson", "url": f"{_origin(url)}/data.json"}
    if re.search(r"/d/[a-z0-9]{4}-[a-z0-9]{4}$", path):  # Socrata's dataset path: /d/abcd-1234
        return {"type": "datajson", "url": f"{_origin(url)}/data.json"}
    for source_type, pattern in _PORTALS:
        if match := pattern.match(path):
            root = match["root"]
            if source_type == "csw":
                return {"type": "csw", "url": f"{_origin(url)}{root}/srv/eng/csw"}
            if source_type == "udata" and root:
                root = ""  # udata's language prefix is not part of its API root
            return {"type": source_type, "url": f"{_origin(url)}{root}"}
    return None


def source_entry(found: dict[str, Any]) -> dict[str, Any]:
    """A `sources.yaml` entry for a finding (id and name from its host, to be reviewed)."""
    host = urlsplit(found["url"]).hostname or "source"
    slug = re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-")
    return {"id": f"{slug}-{found['type']}", "name": host, "type": found["type"], "url": found["url"]}
