"""Name keys: where a publisher's name and a registry body's name meet (the rules are in `names.yaml`)."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

import yaml

from ..mappings.vocabularies import fold

TABLE = Path(__file__).parent / "names.yaml"
_TRAILING_NOTE = re.compile(r"\s*\([^()]*\)\s*$")


class _Table(NamedTuple):
    rewrite: re.Pattern[str]
    replacements: dict[str, str]
    stopwords: frozenset[str]
    prefixes: tuple[tuple[tuple[str, ...], str], ...]  # (key words, kind), longest first


@cache
def _table() -> _Table:
    with TABLE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    replacements = {fold(k): str(v) for k, v in data["rewrite"].items()}
    longest_first = sorted(replacements, key=len, reverse=True)
    rewrite = re.compile(r"\b(?:" + "|".join(map(re.escape, longest_first)) + r")\b")
    stopwords = frozenset(data["stopwords"])
    table = _Table(rewrite, replacements, stopwords, ())
    prefixes = [
        (tuple(_words(prefix, table)), kind) for kind, names in data["prefixes"].items() for prefix in names
    ]
    prefixes.sort(key=lambda p: len(p[0]), reverse=True)
    return table._replace(prefixes=tuple(prefixes))


def _words(name: str, table: _Table) -> list[str]:
    text = fold(_TRAILING_NOTE.sub("", name))
    text = table.rewrite.sub(lambda m: table.replacements[m.group(0)], text)
    return [w for w in text.split() if w not in table.stopwords]


@lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """The key of a name: "Communauté d'agglomération du Grand Dole" and "CA du Grand Dole" -> "ca grand dole"."""
    return " ".join(_words(name, _table()))


class PublisherKey(NamedTuple):
    whole: str  # the key of the whole name
    rest: str | None  # after a prefix that designates a kind of body ("mairie de"), if there is one
    kind: str | None  # that kind


@lru_cache(maxsize=65536)
def publisher_key(name: str) -> PublisherKey:
    """The keys a publisher's name is looked up under: "Mairie de Lille" -> ("mairie lille", "lille", "commune")."""
    table = _table()
    words = _words(name, table)
    for prefix, kind in table.prefixes:
        if len(words) > len(prefix) and tuple(words[: len(prefix)]) == prefix:
            return PublisherKey(" ".join(words), " ".join(words[len(prefix) :]), kind)
    return PublisherKey(" ".join(words), None, None)
