"""Controlled vocabularies as data: load the YAML tables beside this file and look values up in them.

Each table (`<name>.yaml`, written by `build_vocabularies`) lists concepts with their URI, labels per language
and aliases (free-text forms, other URIs, media types, SPDX ids…). Lookups fold case, accents and punctuation so
that "Licence Ouverte v2.0", "licence-ouverte-v2-0" and "LICENCE OUVERTE V2.0" are one key, and read web
addresses through `canonical_url` so that http/https, "www." and a trailing slash do not matter.

Which concept a key belongs to: aliases first, then labels, then deprecated concepts (a key keeps the first
concept that claims it). The build writes a key under several concepts only when it means all of them (a
portal category covering two EU themes); `lookup` returns the first, `lookup_all` all of them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

import yaml

TABLES = Path(__file__).parent
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# Suffixes that name the same licence document: Creative Commons / ODC legal code and deeds, page extensions.
_URL_TAIL = re.compile(
    r"(?:/(?:legalcode|deed)(?:\.[a-z]{2}(?:[-_][a-z]+)?)?|\.(?:html?|php))$", re.IGNORECASE
)


class Match(NamedTuple):
    uri: str
    # "exact": the concept URI itself (modulo http/https, "www.", trailing slash);
    # "alias": a listed label or alias; "fuzzy": read out of a longer text or URL (see mappings.normalise).
    confidence: str


_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})  # letters NFKD does not decompose


@lru_cache(maxsize=131072)
def fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive key."""
    lowered = text.strip().lower()
    if not lowered.isascii():
        decomposed = unicodedata.normalize("NFKD", lowered.translate(_LIGATURES))
        lowered = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_ALNUM.sub(" ", lowered).strip()


def is_url(text: str) -> bool:
    return text[:8].lower().startswith(("http://", "https://"))


@lru_cache(maxsize=65536)
def canonical_url(url: str) -> str:
    """One spelling per web address: http, lower-case host without "www.", no trailing slash, no legal-code,
    deed or .html suffix. Query and fragment are kept (they often are the identifier). Not a URL: unchanged."""
    text = url.strip().strip("<>").strip()
    if not is_url(text):
        return text
    rest = text.split("://", 1)[1]
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    address, tail = rest[:cut], rest[cut:]
    host, _, path = address.partition("/")
    host = host.lower().removeprefix("www.")
    path = path.rstrip("/")
    while True:
        shorter = _URL_TAIL.sub("", path).rstrip("/")
        if shorter == path:
            break
        path = shorter
    return f"http://{host}/{path}{tail}" if path else f"http://{host}{tail}"


def key_of(text: str) -> str:
    """The lookup key of a label or alias: folded, web addresses in canonical form first."""
    return fold(canonical_url(text)) if is_url(text) else fold(text)


class Vocabulary:
    def __init__(self, name: str, data: dict) -> None:
        self.name = name
        self.source = data.get("source", "")
        self.version = str(data.get("version", ""))
        self.labels: dict[str, dict[str, str]] = {}
        self.deprecated: set[str] = set()
        owners: dict[str, list[str]] = {}
        self._uri_keys: dict[str, str] = {}
        concepts = data["concepts"]
        for concept in concepts:
            uri = concept["uri"]
            self.labels[uri] = concept.get("labels") or {}
            if concept.get("deprecated"):
                self.deprecated.add(uri)
            self._uri_keys.setdefault(key_of(uri), uri)
        current = [c for c in concepts if not c.get("deprecated")]
        # Pass 1 may give a key several owners (intended by the build); later passes only fill gaps.
        for concept in current:
            for alias in concept.get("aliases") or ():
                uris = owners.setdefault(key_of(str(alias)), [])
                if concept["uri"] not in uris:
                    uris.append(concept["uri"])
        for concept in current:
            for text in (concept.get("labels") or {}).values():
                owners.setdefault(key_of(str(text)), [concept["uri"]])
        for concept in concepts:
            if concept.get("deprecated"):
                for text in [*(concept.get("labels") or {}).values(), *(concept.get("aliases") or ())]:
                    owners.setdefault(key_of(str(text)), [concept["uri"]])
        owners.pop("", None)
        self._keys: dict[str, str] = {key: uris[0] for key, uris in owners.items()}
        self._all: dict[str, tuple[str, ...]] = {k: tuple(u) for k, u in owners.items() if len(u) > 1}

    def __contains__(self, uri: str) -> bool:
        return uri in self.labels

    def __len__(self) -> int:
        return len(self.labels)

    def _find(self, value: str) -> tuple[str, str | None]:
        """(confidence, found): the concept URI for "exact", the lookup key for "alias" (None: unknown)."""
        value = value.strip()
        if value in self.labels:
            return "exact", value
        key = key_of(value)
        if key in self._uri_keys and is_url(value):
            return "exact", self._uri_keys[key]
        return "alias", key if key in self._keys else None

    @lru_cache(maxsize=65536)  # noqa: B019 - vocabularies live for the whole process
    def lookup(self, value: str) -> Match | None:
        confidence, found = self._find(value)
        if found is None:
            return None
        return Match(found, "exact") if confidence == "exact" else Match(self._keys[found], "alias")

    @lru_cache(maxsize=65536)  # noqa: B019 - vocabularies live for the whole process
    def lookup_all(self, value: str) -> tuple[Match, ...]:
        """Every concept a value names (several only for keys the table lists under several concepts)."""
        confidence, found = self._find(value)
        if found is None:
            return ()
        if confidence == "exact":
            return (Match(found, "exact"),)
        return tuple(Match(uri, "alias") for uri in self._all.get(found, (self._keys[found],)))

    def has_key(self, key: str) -> bool:
        """Whether an already folded key names a concept (for scanning longer texts)."""
        return key in self._keys

    def label(self, uri: str, lang: str | tuple[str, ...] = "fr") -> str | None:
        """The label in the first language of `lang` (one code, or codes in order of preference) the
        table has, else English, else any."""
        labels = self.labels.get(uri)
        if not labels:
            return None
        for code in (lang,) if isinstance(lang, str) else lang:
            if found := labels.get(code):
                return found
        return labels.get("en") or next(iter(labels.values()), None)


@cache
def vocabulary(name: str) -> Vocabulary:
    """The table `mappings/<name>.yaml`, loaded once."""
    with (TABLES / f"{name}.yaml").open(encoding="utf-8") as fh:
        return Vocabulary(name, yaml.load(fh, Loader=_Loader))


# The C loader when PyYAML has it: the media-type table has ~2,000 entries.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

VOCABULARIES = (
    "data-theme",
    "file-type",
    "licence",
    "frequency",
    "language",
    "access-right",
    "inspire-theme",
    "publisher-type",
    "hvd-category",
)


def label(uri: str, lang: str | tuple[str, ...] = "fr", given: dict[str, str] | None = None) -> str:
    """A human label for any controlled URI fedcat emits: a vocabulary's, else one its sources `given`
    (language -> label, '' for none: store.labels), else the URI's last segment when it reads as a name.
    `lang`: one language code, or codes in order of preference."""
    for name in VOCABULARIES:
        found = vocabulary(name).label(uri, lang)
        if found:
            return found
    if given:
        for code in (lang,) if isinstance(lang, str) else lang:
            if found := given.get(code):
                return found
        return given.get("en") or given.get("") or next(iter(given.values()))
    return fallback_label(uri)


def has_label(uri: str) -> bool:
    """Whether one of fedcat's vocabularies labels this IRI."""
    return any(uri in vocabulary(name).labels for name in VOCABULARIES)


_CODE_SEGMENT = re.compile(r"^[A-Za-z]{0,3}[_-]?\d*$")  # "ef", "c_2821", "3138": a code, not a name


def fallback_label(uri: str) -> str:
    """The label of an IRI no vocabulary knows: its last segment when that reads as a name ("odbl",
    "transport"), else the whole address without its scheme (a code "c_2821", a file "license.json")."""
    trimmed = uri.strip().rstrip("/")
    last = trimmed.rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    if last and "." not in last and not _CODE_SEGMENT.match(last):
        return last
    return trimmed.split("://", 1)[-1] or uri
