"""What a body's website says about where it publishes: links that name a catalogue fedcat can harvest.

`classify(url, media_type)` reads one link (an `<a href>` or a `<link rel="alternate" type=…>`) and returns
the source it points to, if any: a DCAT file (Turtle, RDF/XML, JSON-LD), a `data.json`, or the portal of a
known platform (Opendatasoft `/explore/`, udata `/datasets/`, CKAN `/dataset/`, ArcGIS Hub, Socrata,
GeoNetwork's CSW). Pure functions: the crawl (harvester/crawl.py, `mode: discover`) calls them on each page;
`fedcat discover` turns what they found into `sources.yaml` entries to review, never added by itself.

A link's shape is not proof: `probe_request` names the one small request to a proposed portal's API that
would confirm its platform (Opendatasoft's Explore v2.1, udata's site, CKAN's status_show, CSW's
capabilities, the data.json or DCAT document itself), and `probe_says` reads its answer; crawl.probe makes
the request under the crawl's caps and link rules.
"""

from __future__ import annotations

import json
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


# One small request per proposed portal, to its platform's API: (path added to the portal's url, Accept)
_PROBES = {
    "opendatasoft": ("/api/explore/v2.1/catalog/datasets?limit=1", "application/json"),
    "udata": ("/api/1/site/", "application/json"),
    "ckan": ("/api/3/action/status_show", "application/json"),
    "csw": ("?service=CSW&request=GetCapabilities&version=2.0.2", "application/xml"),
    "datajson": ("", "application/json"),
    "dcat": ("", "text/turtle, application/rdf+xml;q=0.9, application/ld+json;q=0.8"),
}
_DCAT_NS = b"http://www.w3.org/ns/dcat#"


def probe_request(found: dict[str, Any]) -> tuple[str, str] | None:
    """The URL and Accept header of the one request that confirms a finding's platform, or None when
    there is nothing to probe (a `website` is confirmed by its crawl)."""
    if found["type"] not in _PROBES:
        return None
    suffix, accept = _PROBES[found["type"]]
    base = found["url"].rstrip("/") if suffix.startswith("/") else found["url"]
    return base + suffix, accept


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def probe_says(found: dict[str, Any], media_type: str, body: bytes) -> tuple[bool, str]:
    """(confirmed, what the answer showed) for the answer to `probe_request(found)`."""
    kind = found["type"]
    if kind == "opendatasoft":
        answer = _json(body)
        if isinstance(answer, dict) and isinstance(answer.get("total_count"), int):
            return True, f"Opendatasoft Explore API v2.1 answered ({answer['total_count']} datasets)"
    elif kind == "udata":
        answer = _json(body)
        if isinstance(answer, dict) and "id" in answer and ("metrics" in answer or "title" in answer):
            return True, "udata API answered (/api/1/site/)"
    elif kind == "ckan":
        answer = _json(body)
        result = answer.get("result") if isinstance(answer, dict) else None
        if isinstance(result, dict) and answer.get("success") is True and result.get("ckan_version"):
            return True, f"CKAN action API answered (CKAN {str(result['ckan_version'])[:20]})"
    elif kind == "datajson":
        answer = _json(body)
        if isinstance(answer, dict) and isinstance(answer.get("dataset"), list):
            return True, f"a data.json catalogue ({len(answer['dataset'])} datasets)"
    elif kind == "dcat":
        if _DCAT_NS in body or (media_type in _DCAT_TYPES and b"dcat" in body.lower()):
            return True, "an RDF document using the DCAT vocabulary"
    elif kind == "csw" and b"Capabilities" in body[:4096] and b"csw" in body[:4096].lower():
        return True, "a CSW GetCapabilities answer"
    return False, "the address answered, but not as that platform's API"
