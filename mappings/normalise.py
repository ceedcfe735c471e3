"""Normalisers: map harvested values onto the controlled vocabularies (URIs of the EU NALs, IANA, SPDX…).

Small pure functions, cached per distinct value (a catalogue repeats the same few licences, formats and themes
thousands of times). Each returns `Match(uri, confidence)`, or None when the value has no known meaning:
- "exact": the value is the concept URI (http/https, "www." and a trailing slash do not matter);
- "alias": a listed label or alias of the concept, compared case-, accent- and punctuation-insensitively, web
  addresses in canonical form; also the media type inside "text/csv; charset=utf-8" and the primary
  language of a tag like "fr-FR";
- "fuzzy", conservative readings of values that are not themselves a label:
  - a URL of an unknown namespace whose last path segment is a concept code ("…/TODO/CC_BYNC_4_0",
    "…/language/FRE") or a label ("…/id/theme/transports-déplacements"; for licences at least two words, so
    ".../licenses/other" stays unmapped);
  - licences only: an HTML fragment or a sentence whose links, or else whose multi-word licence names, all
    name one licence ("Soumis à la licence Etalab : https://www.etalab.gouv.fr/licence-ouverte-open-licence/").
Values that say nothing ("", "None", "null", "n/a") give None.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

from .dates import normalise_date
from .vocabularies import Match, Vocabulary, canonical_url, fold, is_url, vocabulary

__all__ = [
    "IANA",
    "Match",
    "access_right_uri",
    "clear_caches",
    "country_uri",
    "format_uri",
    "frequency_uri",
    "language_uri",
    "licence_uri",
    "media_type_uri",
    "normalise_date",
    "says_nothing",
    "theme_uris",
]

IANA = "http://www.iana.org/assignments/media-types/"
_IANA_CANONICAL = "http://iana.org/assignments/media-types/"
_EMPTY = frozenset({"", "none", "null", "nil", "nan", "n/a", "na", "undefined", "-"})
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_CODE = re.compile(r"^[A-Z0-9]+(?:_[A-Z0-9]+)*$")
_LANGUAGE_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})+$")
_THEME_SEPARATORS = re.compile(r"\s*[;|\n]\s*")
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
# a label followed by its code or extension: "ESRI Shapefile (SHP)", "Tableur (.xlsx)"
_PARENTHESISED = re.compile(r"^(?P<label>[^()]+?)\s*\((?P<code>[^()]+)\)$")
_URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>()]+", re.IGNORECASE)
_MAX_NAME_WORDS = 8  # the longest licence name looked for inside a sentence, in words


def says_nothing(value: object) -> bool:
    """Whether a value is a placeholder for no value ("", "None", "null", "n/a")."""
    return value is None or str(value).strip().lower() in _EMPTY


def _text(value: object) -> str | None:
    return None if says_nothing(value) else str(value).strip()


def _from_url_segment(voc: Vocabulary, text: str, min_words: int = 1) -> Match | None:
    """A URL of another namespace ending with a concept code or label (see the module docstring)."""
    if not is_url(text):
        return None
    segment = canonical_url(text).rsplit("/", 1)[-1].split("#")[0].split("?")[0]
    if not segment or "." in segment:  # "license.json", "terms.html": a document, not a code
        return None
    if not _CODE.match(segment) and len(fold(segment).split()) < min_words:
        return None
    found = voc.lookup(segment)
    return Match(found.uri, "fuzzy") if found else None


def _media_type(text: str) -> str | None:
    """The bare type/subtype of a media type ("text/csv; charset=utf-8" -> "text/csv"), else None."""
    bare = text.split(";", 1)[0].strip().lower()
    return bare if _MEDIA_TYPE.match(bare) else None


@lru_cache(maxsize=65536)
def licence_uri(value: str | None) -> Match | None:
    """The licence a value names: a licence URI or page, an SPDX or CKAN/udata id, a title, or HTML/text
    that names one licence ("Licence Ouverte v2.0", "odc-odbl", "CC-BY-4.0", "https://creativecommons.org/…")."""
    text = _text(value)
    if text is None:
        return None
    voc = vocabulary("licence")
    return voc.lookup(text) or _from_url_segment(voc, text, min_words=2) or _licence_in_text(voc, text)


def _licence_in_text(voc: Vocabulary, text: str) -> Match | None:
    """The one licence an HTML fragment or a sentence names, by its links, else by licence names in it."""
    links = _HREF.findall(text) if "<" in text else []
    body = html.unescape(_TAG.sub(" ", text)) if "<" in text else text
    links += _URL_IN_TEXT.findall(body)
    if len(links) + len(body.split()) < 4:
        return None  # a short value that is not a known name: nothing more to read in it
    uris = {found.uri for link in links if (found := voc.lookup(link.rstrip(".,;:")))}
    if not uris:
        tokens = fold(_URL_IN_TEXT.sub(" ", body)).split()
        i = 0
        while i < len(tokens):
            for size in range(min(_MAX_NAME_WORDS, len(tokens) - i), 1, -1):
                key = " ".join(tokens[i : i + size])
                if voc.has_key(key) and (hit := voc.lookup(key)) is not None:
                    uris.add(hit.uri)
                    i += size
                    break
            else:
                i += 1
    return Match(uris.pop(), "fuzzy") if len(uris) == 1 else None


@lru_cache(maxsize=65536)
def format_uri(value: str | None) -> Match | None:
    """The EU file type a value names: a label ("CSV", "ESRI Shapefile", "geojson"), an extension (".csv"),
    a media type ("text/csv; charset=utf-8"), an IANA or EU file-type URI, a label with its code in
    parentheses ("ESRI Shapefile (SHP)")."""
    text = _text(value)
    if text is None:
        return None
    voc = vocabulary("file-type")
    found = voc.lookup(text)
    if found:
        return found
    if (named := _PARENTHESISED.match(text)) and (
        found := voc.lookup(named["label"]) or voc.lookup(named["code"])
    ):
        return Match(found.uri, "alias")
    if "/" in text and not is_url(text):
        bare = _media_type(text)
        if bare and bare != text.lower():
            found = voc.lookup(bare)
            return Match(found.uri, "alias") if found else None
        return None
    return _from_url_segment(voc, text)


@lru_cache(maxsize=65536)
def media_type_uri(value: str | None) -> str | None:
    """The IANA URI (http://www.iana.org/assignments/media-types/…) of a registered media type, given as
    "type/subtype" (parameters ignored) or as an IANA URI; common unregistered spellings ("application/csv",
    "application/x-zip-compressed") map to the type they mean. None for anything else."""
    text = _text(value)
    if text is None:
        return None
    if is_url(text):
        canonical = canonical_url(text)
        if not canonical.lower().startswith(_IANA_CANONICAL):
            return None
        bare = _media_type(canonical[len(_IANA_CANONICAL) :])
    else:
        bare = _media_type(text)
    if bare is None:
        return None
    voc = vocabulary("media-type")
    if IANA + bare in voc:
        return IANA + bare
    found = voc.lookup(bare)
    return found.uri if found else None


@lru_cache(maxsize=65536)
def _themes(value: str | None) -> tuple[Match, ...]:
    text = _text(value)
    if text is None:
        return ()
    voc = vocabulary("data-theme")
    found = voc.lookup_all(text)
    if found:
        return found
    if is_url(text):
        one = _from_url_segment(voc, text)
        return (one,) if one else ()
    out: dict[str, Match] = {}
    parts = [p for p in _THEME_SEPARATORS.split(text) if p]
    for part in parts:
        for match in (len(parts) > 1 and voc.lookup_all(part)) or _comma_runs(voc, part):
            out.setdefault(match.uri, match)
    return tuple(out.values())


def _comma_runs(voc: Vocabulary, text: str) -> list[Match]:
    """Themes of a comma-joined list whose items may hold commas themselves (Opendatasoft's "Culture,
    Patrimoine, Sport, Loisirs" is two themes): the longest known run of parts first, left to right."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    found: list[Match] = []
    i = 0
    while i < len(parts):
        for end in range(len(parts), i, -1):
            matches = voc.lookup_all(", ".join(parts[i:end]))
            if matches:
                found.extend(matches)
                i = end
                break
        else:
            i += 1
    return found


def theme_uris(value: str | None) -> list[Match]:
    """The EU data themes a value names: a URI, a code ("TRAN"), a label in fr/en/de/it/nl/es, a portal
    category ("Transports, Déplacements"), or several of them separated by ";" or ","."""
    return list(_themes(value))


@lru_cache(maxsize=65536)
def language_uri(value: str | None) -> Match | None:
    """The EU language a value names: "fr", "fra", "fre", "FR", "fr-FR", "French", "français", the EU URI,
    the Library of Congress ISO 639 URIs."""
    text = _text(value)
    if text is None:
        return None
    voc = vocabulary("language")
    found = voc.lookup(text)
    if found:
        return found
    tag = _LANGUAGE_TAG.match(text)
    if tag:
        found = voc.lookup(tag.group(1))
        return Match(found.uri, "alias") if found else None
    return _from_url_segment(voc, text)


@lru_cache(maxsize=65536)
def frequency_uri(value: str | None) -> Match | None:
    """The EU frequency a value names: EU labels ("annual", "annuel", "annuelle"), udata ids ("punctual",
    "continuous"…), ISO 8601 repeating durations ("R/P1Y") as in DCAT-US, Dublin Core frequency URIs."""
    text = _text(value)
    if text is None:
        return None
    voc = vocabulary("frequency")
    return voc.lookup(text) or _from_url_segment(voc, text)


@lru_cache(maxsize=65536)
def access_right_uri(value: str | None) -> Match | None:
    """The EU access right a value names: "public", "restricted", "non-public" (DCAT-US accessLevel), the EU
    URI or label."""
    text = _text(value)
    if text is None:
        return None
    voc = vocabulary("access-right")
    return voc.lookup(text) or _from_url_segment(voc, text)


@lru_cache(maxsize=65536)
def country_uri(value: str | None) -> Match | None:
    """The EU country a value names: its name in fr/en/de/it/nl/es ("Libya", "Libye"), its three-letter
    code, the EU URI."""
    text = _text(value)
    return vocabulary("country").lookup(text) if text else None


def clear_caches() -> None:
    """Forget every cached lookup (the loaded tables stay): for cold-cache benchmarks and tests."""
    for function in (licence_uri, format_uri, media_type_uri, _themes, language_uri, frequency_uri):
        function.cache_clear()
    access_right_uri.cache_clear()
    country_uri.cache_clear()
    Vocabulary.lookup.cache_clear()
    Vocabulary.lookup_all.cache_clear()
    fold.cache_clear()
    canonical_url.cache_clear()
    normalise_date.cache_clear()


_FORMAT_PARAMETERS = frozenset({"format", "outputformat", "f", "output", "type", "fmt"})


@lru_cache(maxsize=65536)
def url_format(url: str) -> str | None:
    """The EU file type a URL names: its file's extension ("…/roads.zip"), else a format parameter of its
    query ("outputFormat=csv", "f=json", "format=geojson"). None when it names none fedcat knows."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # "http://[x" (an unclosed IPv6 bracket): names no file either
        return None
    last = parts.path.rsplit("/", 1)[-1]
    if "." in last and (found := format_uri("." + last.rsplit(".", 1)[-1])):
        return found.uri
    for key, value in parse_qsl(parts.query):
        # "csv", "SHAPE-ZIP", "application/json; subtype=geojson"
        if key.lower() in _FORMAT_PARAMETERS and (
            found := format_uri(value.strip()) or format_uri(value.split(";")[0].strip())
        ):
            return found.uri
    return None
