"""Controlled vocabularies as data: load the YAML tables beside this file and look values up in them.

Each table (`<name>.yaml`) lists concepts with their URI, labels per language and aliases (free-text forms,
other URIs, media types, SPDX ids…). Lookups fold case, accents and punctuation so that "Licence Ouverte
v2.0", "licence-ouverte-v2-0" and "LICENCE OUVERTE V2.0" are one key.
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


class Match(NamedTuple):
    uri: str
    confidence: str  # "exact": the URI itself; "alias": a listed label or alias


@lru_cache(maxsize=131072)
def fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive key."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_ALNUM.sub(" ", ascii_text).strip()


class Vocabulary:
    def __init__(self, name: str, data: dict) -> None:
        self.name = name
        self.source = data.get("source", "")
        self.version = str(data.get("version", ""))
        self.labels: dict[str, dict[str, str]] = {}
        self._keys: dict[str, str] = {}
        for concept in data["concepts"]:
            uri = concept["uri"]
            self.labels[uri] = concept.get("labels", {})
            self._keys.setdefault(uri, uri)
            for alias in [*self.labels[uri].values(), *concept.get("aliases", [])]:
                self._keys.setdefault(fold(str(alias)), uri)

    def __contains__(self, uri: str) -> bool:
        return uri in self.labels

    @lru_cache(maxsize=65536)  # noqa: B019 - vocabularies live for the whole process
    def lookup(self, value: str) -> Match | None:
        value = value.strip()
        if value in self.labels:
            return Match(value, "exact")
        if value.startswith("https://") and value.replace("https://", "http://", 1) in self.labels:
            return Match(value.replace("https://", "http://", 1), "exact")
        uri = self._keys.get(value) or self._keys.get(fold(value))
        return Match(uri, "alias") if uri else None

    def label(self, uri: str, lang: str = "fr") -> str | None:
        labels = self.labels.get(uri)
        if not labels:
            return None
        return labels.get(lang) or labels.get("en") or next(iter(labels.values()), None)


@cache
def vocabulary(name: str) -> Vocabulary:
    """The table `mappings/<name>.yaml`, loaded once."""
    with (TABLES / f"{name}.yaml").open(encoding="utf-8") as fh:
        return Vocabulary(name, yaml.safe_load(fh))


VOCABULARIES = ("data-theme", "file-type", "licence", "frequency", "language", "access-right")


def label(uri: str, lang: str = "fr") -> str:
    """A human label for any controlled URI fedcat emits; the URI's last segment when none is known."""
    for name in VOCABULARIES:
        found = vocabulary(name).label(uri, lang)
        if found:
            return found
    return uri.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1] or uri
