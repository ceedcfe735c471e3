"""What one record says about its identity, as `Copy` facts and blocking keys (pure).

A blocking key is `kind:value`; two records of different sources that carry one key are candidates for the
rule of that kind (`federation/rules.yaml`). Comparing keys instead of records keeps clustering linear in
the number of records: never all pairs.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections.abc import Iterable
from functools import lru_cache
from typing import TypeAlias
from urllib.parse import parse_qsl, quote, unquote, urlencode

import msgspec

from ..mappings.model import Dataset, Text, text_in
from ..mappings.publishers import AliasTable, default_aliases, publisher_key
from ..mappings.quality import Scored
from ..mappings.vocabularies import fold

_DEFAULT_PORTS = {":80", ":443"}
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_DOI = re.compile(r"^(?:doi:)?10\.\d{4,9}/\S+$")
# a code this long, of letters and digits only, is not a slug two portals share by chance ("budget-2019" is)
_CODE = re.compile(r"^(?=.*[0-9])[0-9a-z]{16,}$")
_SEP = ":"
# the characters `normal_url` keeps as they are in a path, and in a query's names and values (`quote`'s safe
# sets): most URLs have nothing else, so they skip the decode and re-encode that only respell the others
_PLAIN_PATH = re.compile(r"[0-9A-Za-z/:@!$&'()*+,;=\-._~]*").fullmatch
_PLAIN_WORD = re.compile(r"[0-9A-Za-z_.\-~]*").fullmatch
FACTS_VERSION = 4  # bump when what `copy_of` makes of a record changes: the view then re-clusters all
# words that do not tell two titles apart ("Qualité de l'air" is "Qualite air")
_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "au",
        "aux",
        "d",
        "de",
        "des",
        "du",
        "en",
        "et",
        "for",
        "in",
        "l",
        "la",
        "le",
        "les",
        "of",
        "on",
        "par",
        "pour",
        "sur",
        "the",
        "to",
        "un",
        "une",
    ]
)
# each record's URLs and title are normalised several times over (its keys, its formats, its facts): a cache
# of that size serves them; one sized for the store's every URL would grow with the catalogue (~350 bytes an
# entry: 90 MB at 262,144)
_CACHED = 16384
_MAX_TITLE_WORDS = 12  # a longer title gets its exact key only: its one-word-less keys would be many


class Copy(msgspec.Struct, array_like=True, frozen=True):
    """One record as clustering sees it."""

    id: str  # fedcat id
    source: str
    keys: tuple[str, ...]  # blocking keys, `kind:value`
    formats: tuple[str, ...] = ()  # folded formats and download file names: "overlapping distributions"
    quality: float = 0.0  # the quality score's total
    first_seen: str = ""
    own: bool = False  # harvested from the publisher's own source (its jurisdiction is the publisher's body)
    title: str = ""  # its title's significant words (`title_words`), compared by the last-resort rule

    def kind_values(self, kind: str) -> set[str]:
        prefix = kind + _SEP
        start = bisect_left(self.keys, prefix)  # the keys are sorted: one kind's are together
        end = bisect_left(self.keys, kind + chr(ord(_SEP) + 1), start)
        return set(self.keys[start:end])


class Described(Scored):
    """What `copy_of` reads of a stored dataset: the score's fields and the identifying ones
    (`model.Dataset`'s fields, its defaults), decoded without the rest (`described`). (Empty lists by
    factory: a subclass's `[]` defaults read to linters as shared class attributes.)"""

    title: list[Text] = msgspec.field(default_factory=list)
    original_uri: str | None = None
    identifier: list[str] = msgspec.field(default_factory=list)
    other_identifier: list[str] = msgspec.field(default_factory=list)
    landing_page: list[str] = msgspec.field(default_factory=list)
    derived_from: list[str] = msgspec.field(default_factory=list)


described = msgspec.json.Decoder(Described).decode  # a stored dataset's JSON, as `copy_of` reads it
Readable: TypeAlias = Dataset | Described  # what the facts can be made of


@lru_cache(maxsize=_CACHED)
def normal_url(url: str) -> str | None:
    """One spelling per web address: scheme, host case, default port, `www.`, trailing slash, percent-encoding
    and query parameter order do not matter. Fragments are kept (`…/ns#dataset-1` is an identifier).
    Not an http(s) URL: None."""
    text = url.strip().strip("<>").strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    host, _, path = rest.partition("/")
    host = host.lower().rpartition("@")[2]  # no credentials in a key
    for port in _DEFAULT_PORTS:
        host = host.removesuffix(port)
    host = host.removeprefix("www.")
    if not host:
        return None
    if not _PLAIN_PATH(path):
        path = quote(unquote(path), safe="/:@!$&'()*+,;=-._~")
    path = path.rstrip("/")
    if query:
        query = _normal_query(query)
    return f"{host}/{path}" + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")


@lru_cache(maxsize=_CACHED)  # a portal's links repeat a few queries ("?lang=fr&sep=%3B")
def _normal_query(query: str) -> str:
    """The query's parameters in order, each spelt as `urlencode` spells it."""
    pairs = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if not (_PLAIN_WORD(name) and _PLAIN_WORD(value)):  # escapes, `+` or other characters to respell
            return urlencode(sorted(parse_qsl(query, keep_blank_values=True)))
        if part:
            pairs.append((name, value))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def url_host(normal: str) -> str:
    return normal.split("/", 1)[0]


@lru_cache(maxsize=_CACHED)
def title_key(title: str) -> str:
    """Near-identical titles meet: case, accents, punctuation and spacing folded."""
    return " ".join(fold(title).split())


@lru_cache(maxsize=_CACHED)
def title_words(title: str) -> str:
    """The title's significant words in order: folded (`title_key`), without stop words."""
    return " ".join(w for w in title_key(title).split() if w not in _STOP_WORDS)


def _singular(word: str) -> str:
    """A French or English plural's singular, roughly ("vélos", "réseaux"): for blocking only."""
    return word[:-1] if len(word) > 3 and word[-1] in "sx" else word


def title_keys(publisher: str, words: str) -> set[str]:
    """The last-resort rule's blocking keys: the publisher with the title's sorted significant words
    (plurals made singular), and the same with each word that is not a number left out in turn, as long as
    another word is left. Two titles one word apart (one added, dropped or misspelt: "Comptages vélo" /
    "Comptages vélo Lille") then share a key, so near-identical titles meet in a block without comparing all
    pairs; `cluster.title_similarity` decides. Numbers are never left out (titles whose numbers differ never
    link): a key of a publisher's year alone would join every title of that year, and a change to one record
    would re-cluster them all."""
    tokens = sorted({_singular(w) for w in words.split()})
    if not publisher or not tokens:
        return set()
    keys = {f"title{_SEP}{publisher}|{' '.join(tokens)}"}
    words_only = [t for t in tokens if not t.isdigit()]
    if len(words_only) > 1 and len(tokens) <= _MAX_TITLE_WORDS:
        keys.update(
            f"title{_SEP}{publisher}|{' '.join(t for t in tokens if t != word)}" for word in words_only
        )
    return keys


def _distinctive(identifier: str) -> bool:
    low = identifier.strip().lower()
    if _UUID.match(low) or _DOI.match(low):
        return True
    return bool(_CODE.match(low))


def publisher_of(dataset: Readable, aliases: AliasTable | None = None) -> str:
    """The normalised publisher: its alias-table name when listed, else its folded key."""
    if dataset.publisher is None:
        return ""
    name = text_in(dataset.publisher.name).strip()
    if not name:
        return ""
    if aliases is None:
        return _publisher_key(name)
    return publisher_key(aliases.canonical(name) or name)


@lru_cache(maxsize=_CACHED)  # a catalogue's records share a few thousand publishers
def _publisher_key(name: str) -> str:
    return publisher_key(default_aliases().canonical(name) or name)


def identity_keys(dataset: Readable, publisher: str = "") -> list[str]:
    """The blocking keys of one dataset (see `federation/rules.yaml` for the rule of each kind).

    `publisher` is the normalised publisher (`publisher_of`, or the matched body's id when the registry
    knows it): with the title's words it makes the last-resort `title` keys (`title_keys`).
    """
    keys: set[str] = set()
    iris = [dataset.original_uri, *dataset.identifier, *dataset.other_identifier]
    plain: list[str] = []
    for value in iris:
        if not value:
            continue
        normal = normal_url(value)
        if normal:
            keys.add(f"iri{_SEP}{normal}")
        elif value.strip():
            plain.append(value.strip())
    pages = [n for n in map(normal_url, dataset.landing_page) if n]
    # a link to the page of the dataset it was copied from meets that page (Opendatasoft's source links)
    origins = [n for n in map(normal_url, dataset.derived_from) if n]
    keys.update(f"landing{_SEP}{n}" for n in pages + origins)
    downloads = []
    for distribution in dataset.distributions:
        for url in distribution.download_url or distribution.access_url:
            normal = normal_url(url)
            if normal:
                downloads.append(normal)
    if downloads:  # the same files, all of them: two datasets often share one file (a common reference)
        files = "\n".join(sorted(set(downloads)))
        keys.add(f"download{_SEP}{hashlib.blake2b(files.encode(), digest_size=12).hexdigest()}")
    # a portal's short record id ("comptages-velo") is one dataset only next to that portal's host: the
    # origin's own pages, or a mirror's `harvest.remote_url` pointing there
    hosts = {url_host(n) for n in pages}
    if dataset.original_uri and (normal := normal_url(dataset.original_uri)):
        hosts.add(url_host(normal))
    for identifier in plain:
        if _distinctive(identifier):
            keys.add(f"identifier{_SEP}{identifier.lower()}")
        keys.update(f"provenance{_SEP}{host}|{identifier}" for host in hosts)
    keys.update(title_keys(publisher, title_words(text_in(dataset.title))))
    return sorted(keys)


def format_marks(dataset: Readable) -> list[str]:
    """What two descriptions' distributions share when they overlap: formats and download file names."""
    marks: set[str] = set()
    for distribution in dataset.distributions:
        if distribution.format:
            marks.add("f:" + fold(distribution.format.rsplit("/", 1)[-1]))
        for url in distribution.download_url or distribution.access_url:
            normal = normal_url(url)
            if normal:
                name = normal.split("?", 1)[0].rsplit("/", 1)[-1]
                if "." in name:
                    marks.add("n:" + name.lower())
    return sorted(marks)


def copy_of(
    record_id: str,
    source_id: str,
    dataset: Readable,
    *,
    publisher: str | None = None,
    quality: float = 0.0,
    first_seen: str = "",
    own: bool = False,
    extra_keys: Iterable[str] = (),
) -> Copy:
    """The clustering facts of one record."""
    publisher = publisher_of(dataset) if publisher is None else publisher
    keys = identity_keys(dataset, publisher)  # sorted, each once
    return Copy(
        id=record_id,
        source=source_id,
        keys=tuple(sorted({*keys, *extra_keys}) if extra_keys else keys),
        formats=tuple(format_marks(dataset)),
        quality=quality,
        first_seen=first_seen,
        own=own,
        title=title_words(text_in(dataset.title)),
    )


def kind_of(key: str) -> str:
    return key.split(_SEP, 1)[0]
