"""Metadata quality: the data.europa.eu Metadata Quality Assessment (MQA) score of a dataset.

Pure functions of a `Dataset`, the stored link checks of its URLs and, when there is one, its stored
SHACL validation result. Per-publisher and per-source aggregates are computed from the scores.

Where the numbers come from:
- indicators and their points: piveau's DQV vocabulary, the metric definitions of the MQA's own
  implementation (piveau-data/piveau-vocabularies, src/main/resources/piveau-dqv-vocabulary.ttl @ 7b29f2a,
  in the corpus at vocabularies/piveau/piveau-dqv-vocabulary.ttl: `pv:trueScore` of each `dqv:Metric`);
- dimension maxima (findability 100, accessibility 100, interoperability 110, reusability 75,
  contextuality 20: 405), the rating bands (excellent 351-405, good 221-350, sufficient 121-220,
  bad 0-120) and the rule that interoperability counts the distribution with the most points ("identical
  content with several distributions"): the methodology page https://data.europa.eu/mqa/methodology, as
  reproduced in the README of mjanez/ckan-mqa @ 468010f and in the data provider manual
  (https://dataeuropa.gitlab.io/data-provider-manual/metadata-quality-dashboard/).

| dimension        | indicator (piveau metric)                        | points | counted on          |
|------------------|--------------------------------------------------|--------|---------------------|
| findability      | keyword (keywordAvailability)                    | 30     | dataset             |
|                  | theme (categoryAvailability)                     | 30     | dataset             |
|                  | spatial (spatialAvailability)                    | 20     | dataset             |
|                  | temporal (temporalAvailability)                  | 20     | dataset             |
| accessibility    | access_url_status (accessUrlStatusCode)          | 50     | share of distrib.   |
|                  | download_url (downloadUrlAvailability)           | 20     | share of distrib.   |
|                  | download_url_status (downloadUrlStatusCode)      | 30     | share of distrib.   |
| interoperability | format (formatAvailability)                      | 20     | best distribution   |
|                  | media_type (mediaTypeAvailability)               | 10     | best distribution   |
|                  | vocabulary (formatMediaTypeVocabularyAlignment)  | 10     | best distribution   |
|                  | non_proprietary (formatMediaTypeNonProprietary)  | 20     | best distribution   |
|                  | machine_readable (…MachineInterpretable)         | 20     | best distribution   |
|                  | dcat_ap_compliance (dcatApCompliance)            | 30     | dataset (SHACL)     |
| reusability      | licence (licenceAvailability)                    | 20     | share of distrib.   |
|                  | licence_vocabulary (knownLicence)                | 10     | share of distrib.   |
|                  | access_rights (accessRightsAvailability)         | 10     | dataset             |
|                  | access_rights_vocabulary (…VocabularyAlignment)  | 5      | dataset             |
|                  | contact_point (contactPointAvailability)         | 20     | dataset             |
|                  | publisher (publisherAvailability)                | 10     | dataset             |
| contextuality    | rights (rightsAvailability)                      | 5      | share of distrib.   |
|                  | byte_size (byteSizeAvailability)                 | 5      | share of distrib.   |
|                  | issued (dateIssuedAvailability)                  | 5      | dataset or a distr. |
|                  | modified (dateModifiedAvailability)              | 5      | dataset or a distr. |

Readings and choices (each one a line to change if data.europa.eu reads it otherwise):
- "share of distributions": points × (distributions satisfying it / all distributions), as the MQA
  dashboard counts them (population = distributions); a dataset without distributions scores 0 there.
- Reachable = the last answer of a HEAD, or else of a ranged GET, was 2xx or 3xx (`harvester.linkcheck`).
  A URL never checked counts as not reachable, and its indicator says "not checked": the score only
  credits what was verified, as the MQA (which checks every URL) does.
- vocabulary: both the format (EU file-type NAL) and the media type (IANA) are from their vocabulary.
  non_proprietary / machine_readable: the format or the media type is in `quality-formats.yaml`.
- A licence or access right that no vocabulary knows is still licence / access-right information: fedcat
  keeps it in `unmapped`, so it earns the availability points but not the vocabulary ones. A distribution
  without its own licence takes the dataset's.
- piveau gives -5 (`pv:falseScore`) for a distribution without format or media type; the published
  methodology's range starts at 0 and says nothing of it, so fedcat does not subtract.
- dcat_ap_compliance needs a SHACL validation (`fedcat validate`, built separately): pass its stored result
  as `shacl_conforms`; None (not validated) scores 0 with the note "not validated".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from pathlib import Path

import msgspec
import yaml

from .model import Agent, ContactPoint, Dataset, Location, PeriodOfTime, Text
from .normalise import access_right_uri, format_uri, licence_uri, media_type_uri
from .vocabularies import is_url

FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
FORMATS_TABLE = Path(__file__).parent / "quality-formats.yaml"

DIMENSIONS = ("findability", "accessibility", "interoperability", "reusability", "contextuality")
# (dimension, indicator, points): the order of the table above, which is the order of every report.
INDICATORS: tuple[tuple[str, str, int], ...] = (
    ("findability", "keyword", 30),
    ("findability", "theme", 30),
    ("findability", "spatial", 20),
    ("findability", "temporal", 20),
    ("accessibility", "access_url_status", 50),
    ("accessibility", "download_url", 20),
    ("accessibility", "download_url_status", 30),
    ("interoperability", "format", 20),
    ("interoperability", "media_type", 10),
    ("interoperability", "vocabulary", 10),
    ("interoperability", "non_proprietary", 20),
    ("interoperability", "machine_readable", 20),
    ("interoperability", "dcat_ap_compliance", 30),
    ("reusability", "licence", 20),
    ("reusability", "licence_vocabulary", 10),
    ("reusability", "access_rights", 10),
    ("reusability", "access_rights_vocabulary", 5),
    ("reusability", "contact_point", 20),
    ("reusability", "publisher", 10),
    ("contextuality", "rights", 5),
    ("contextuality", "byte_size", 5),
    ("contextuality", "issued", 5),
    ("contextuality", "modified", 5),
)
POINTS = {name: points for _dim, name, points in INDICATORS}
DIMENSION_MAX = {d: sum(p for dim, _n, p in INDICATORS if dim == d) for d in DIMENSIONS}
MAX_POINTS = sum(DIMENSION_MAX.values())  # 405
# Lowest total of each rating band, best first.
BANDS: tuple[tuple[str, int], ...] = (("excellent", 351), ("good", 221), ("sufficient", 121), ("bad", 0))
BAND_NAMES = tuple(name for name, _low in BANDS)
_INTEROPERABILITY = ("format", "media_type", "vocabulary", "non_proprietary", "machine_readable")

LinkChecks = Mapping[str, bool]  # URL -> reachable, for the URLs that were checked


class ScoredDistribution(msgspec.Struct):
    """What the score reads of a distribution (`model.Distribution`'s fields, its defaults)."""

    access_url: list[str] = []
    download_url: list[str] = []
    format: str | None = None
    media_type: str | None = None
    licence: str | None = None
    rights: str | None = None
    byte_size: int | None = None
    issued: str | None = None
    modified: str | None = None


class Scored(msgspec.Struct):
    """What the score reads of a dataset (`model.Dataset`'s fields, its defaults): a stored dataset's JSON
    decodes into it ~3x faster than into a whole `Dataset` (whose every other field is made too), for a
    reader that needs only the score and a few fields more (the federation's facts)."""

    keywords: list[Text] = []
    themes: list[str] = []
    publisher: Agent | None = None
    contact_points: list[ContactPoint] = []
    distributions: list[ScoredDistribution] = []
    issued: str | None = None
    modified: str | None = None
    licence: str | None = None
    access_rights: str | None = None
    temporal: list[PeriodOfTime] = []
    spatial: list[Location] = []
    unmapped: dict[str, list[str]] = {}


class Indicator(msgspec.Struct, omit_defaults=True):
    name: str
    dimension: str
    points: float
    max: int
    share: float  # fraction of what it is counted on that satisfies it (0 or 1 for dataset indicators)
    note: str | None = None  # why it is unknown rather than failed: "not checked", "not validated"


class Quality(msgspec.Struct):
    total: float
    band: str
    dimensions: dict[str, float]
    indicators: list[Indicator]


class Aggregate(msgspec.Struct):
    key: str
    datasets: int
    mean: float
    min: float
    max: float
    bands: dict[str, int]
    dimensions: dict[str, float]  # mean points per dimension


def band(total: float) -> str:
    """The rating band of a total score (fractions of a point stay in the lower band: 350.5 is good)."""
    for name, low in BANDS:
        if total >= low:
            return name
    return "bad"


@cache
def format_tables() -> tuple[frozenset[str], frozenset[str]]:
    """(non-proprietary, machine-readable) EU file-type URIs, from `quality-formats.yaml`."""
    with FORMATS_TABLE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return (
        frozenset(FILE_TYPE + code for code in data["non_proprietary"]),
        frozenset(FILE_TYPE + code for code in data["machine_readable"]),
    )


def _file_type(value: str | None) -> str | None:
    """The EU file type a format or media type names."""
    match = format_uri(value) if value else None
    return match.uri if match and match.uri.startswith(FILE_TYPE) else None


def _aligned(value: str | None, lookup) -> bool:
    """A controlled value: an address the vocabulary knows (its own URI, or an alias address such as a
    licence's page), not a label that merely names a concept."""
    return bool(value and is_url(value) and lookup(value) is not None)


@lru_cache(maxsize=8192)
def _interoperability(fmt: str | None, media_type: str | None) -> tuple[tuple[bool, ...], int]:
    """The five distribution indicators (in `_INTEROPERABILITY` order) and their points; cached: a
    catalogue repeats a few (format, media type) pairs."""
    non_proprietary, machine_readable = format_tables()
    types = {t for t in (_file_type(fmt), _file_type(media_type)) if t}
    found = (
        bool(fmt),
        bool(media_type),
        _aligned(fmt, format_uri) and _aligned(media_type, media_type_uri),
        bool(types & non_proprietary),
        bool(types & machine_readable),
    )
    return found, sum(POINTS[name] for name, ok in zip(_INTEROPERABILITY, found, strict=True) if ok)


@lru_cache(maxsize=8192)
def _known_licence(uri: str | None) -> bool:
    return _aligned(uri, licence_uri)


def _reachable(urls: list[str], checks: LinkChecks) -> tuple[bool, bool]:
    """(reachable, checked) for a distribution's URLs: one reachable URL is enough."""
    known = [checks[u] for u in urls if u in checks]
    return any(known), bool(known)


def score(
    dataset: Dataset, *, link_checks: LinkChecks | None = None, shacl_conforms: bool | None = None
) -> Quality:
    """The MQA score of one dataset (see the module docstring for every rule)."""
    shares, notes = _shares(dataset, link_checks or {}, shacl_conforms)
    dimensions = _dimensions(shares)
    indicators = [
        Indicator(name, dim, points * shares[name], points, shares[name], notes.get(name))
        for dim, name, points in INDICATORS
    ]
    total = sum(dimensions.values())
    return Quality(total=total, band=band(total), dimensions=dimensions, indicators=indicators)


def completeness(dataset: Dataset | Scored) -> float:
    """What the metadata alone earns: `score(dataset).total` (no link checks, not validated), without
    building the indicators (the federation ranks every record's copies by it)."""
    return sum(_dimensions(_shares(dataset, {}, None)[0]).values())


def _dimensions(shares: dict[str, float]) -> dict[str, float]:
    """The points of each dimension: its indicators' points times their shares, summed in table order."""
    dimensions = dict.fromkeys(DIMENSIONS, 0.0)
    for dim, name, points in INDICATORS:
        dimensions[dim] += points * shares[name]
    return dimensions


def _shares(
    dataset: Dataset | Scored, checks: LinkChecks, shacl_conforms: bool | None
) -> tuple[dict[str, float], dict[str, str]]:
    """Each indicator's share (what satisfies it, 0 to 1) and the notes of those that are unknown."""
    dists = dataset.distributions
    unmapped = dataset.unmapped
    notes: dict[str, str] = {}

    # one pass over the distributions: counts for the shares, the best one for interoperability
    counts = dict.fromkeys(
        ("access_url_status", "download_url", "download_url_status", "licence", "licence_vocabulary",
         "rights", "byte_size"), 0,
    )  # fmt: skip
    access_listed = access_checked = download_checked = False
    best: tuple[bool, ...] = (False,) * len(_INTEROPERABILITY)
    best_points = -1
    has_licence = bool(dataset.licence or unmapped.get("licence"))
    issued, modified = bool(dataset.issued), bool(dataset.modified)
    for d in dists:
        if d.access_url:
            access_listed = True
            if checks:  # else none is reachable or checked (a first harvest: no URL checked yet)
                ok, checked = _reachable(d.access_url, checks)
                counts["access_url_status"] += ok
                access_checked |= checked
        if d.download_url:
            counts["download_url"] += 1
            if checks:
                ok, checked = _reachable(d.download_url, checks)
                counts["download_url_status"] += ok
                download_checked |= checked
        found, points = _interoperability(d.format, d.media_type)
        if points > best_points:
            best, best_points = found, points
        if d.licence or has_licence:
            counts["licence"] += 1
            counts["licence_vocabulary"] += _known_licence(d.licence or dataset.licence)
        counts["rights"] += bool(d.rights)
        counts["byte_size"] += d.byte_size is not None
        issued |= bool(d.issued)
        modified |= bool(d.modified)
    n = len(dists)
    shares = {name: count / n if n else 0.0 for name, count in counts.items()}
    if access_listed and not access_checked:
        notes["access_url_status"] = "not checked"
    if counts["download_url"] and not download_checked:
        notes["download_url_status"] = "not checked"
    shares.update({name: float(ok) for name, ok in zip(_INTEROPERABILITY, best, strict=True)})
    shares["dcat_ap_compliance"] = float(shacl_conforms is True)
    if shacl_conforms is None:
        notes["dcat_ap_compliance"] = "not validated"

    # dataset indicators
    shares["keyword"] = float(any(k.value.strip() for k in dataset.keywords))
    shares["theme"] = float(bool(dataset.themes or unmapped.get("theme")))
    shares["spatial"] = float(bool(dataset.spatial))
    shares["temporal"] = float(bool(dataset.temporal))
    shares["access_rights"] = float(bool(dataset.access_rights or unmapped.get("access_rights")))
    shares["access_rights_vocabulary"] = float(_aligned(dataset.access_rights, access_right_uri))
    shares["contact_point"] = float(bool(dataset.contact_points))
    publisher = dataset.publisher
    shares["publisher"] = float(bool(publisher and (publisher.name or publisher.uri)))
    shares["issued"] = float(issued)
    shares["modified"] = float(modified)
    return shares, notes


def dataset_urls(dataset: Dataset) -> set[str]:
    """Every access and download URL of a dataset's distributions (what a link check looks at)."""
    return {u for d in dataset.distributions for u in (*d.access_url, *d.download_url)}


def aggregate(scores: Iterable[tuple[str, float, Mapping[str, float]]]) -> list[Aggregate]:
    """Per-group figures from (group key, total, points per dimension) rows, largest groups first."""
    groups: dict[str, list[tuple[float, Mapping[str, float]]]] = {}
    for key, total, dims in scores:
        groups.setdefault(key, []).append((total, dims))
    result = []
    for key, rows in groups.items():
        totals = [t for t, _ in rows]
        bands = dict.fromkeys(BAND_NAMES, 0)
        for total in totals:
            bands[band(total)] += 1
        result.append(
            Aggregate(
                key=key,
                datasets=len(rows),
                mean=sum(totals) / len(rows),
                min=min(totals),
                max=max(totals),
                bands=bands,
                dimensions={d: sum(dims.get(d, 0.0) for _, dims in rows) / len(rows) for d in DIMENSIONS},
            )
        )
    result.sort(key=lambda a: (-a.datasets, a.key))
    return result
