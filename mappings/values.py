"""Map harvested values onto controlled vocabularies, keeping every value that could not be mapped.

Adapters call one `ValueMapper` per record: each method returns the controlled URI (or None) and notes the
original value under `unmapped` when it has no known meaning, so nothing is dropped silently and the run
report can count the top unmapped values per property.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urljoin

from . import normalise
from .vocabularies import Match

# schemes of links a distribution may give: kept and published, never fetched unless HTTP(S)
LINK_SCHEMES = ("http://", "https://", "ftp://", "ftps://", "sftp://")


def as_list(value: Any) -> list[Any]:
    """A value where a list belongs: a list as it is, a lone value (a dict, a string) as a list of one, null
    as no value."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def stripped(value: Any) -> str | None:
    """A text value without its surrounding blanks; None for an empty one or a value that is no text."""
    return value.strip() or None if isinstance(value, str) else None


def is_iri(value: str) -> bool:
    return value.startswith(("http://", "https://", "urn:", "ftp://", "ftps://", "sftp://"))


def is_link(value: str) -> bool:
    """A URL a distribution may give for its data (HTTP, FTP…), as opposed to a file path or a bare host."""
    return value.strip().lower().startswith(LINK_SCHEMES) and len(value.strip()) > 8


_SCHEME = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|_:)")  # mailto:, urn:, blank nodes: not paths to resolve


def resolve_link(link: str, base: str, *, bare: bool = False) -> str | None:
    """A relative link made absolute against `base` (the portal root, the document's or the page's URL):
    a path ("/f.csv", "./f.csv", "../f.csv") always; with `bare`, any relative reference ("f.csv", "#ds"), as
    a web page's links are read. None for anything else (another scheme, a bare name outside a page)."""
    text = link.strip()
    if not base or not text:
        return None
    if text.startswith(("/", "./", "../")) or (
        bare and not _SCHEME.match(text) and not any(c.isspace() for c in text)
    ):
        try:
            return urljoin(base, text)
        except ValueError:  # "//[x" (an unclosed IPv6 bracket): no address to make
            return None
    return None


def absolute_links(
    item: dict[str, Any], keys: tuple[str, ...], base: str, values: ValueMapper
) -> dict[str, Any]:
    """`item` with the links at `keys` that are paths on the portal ("/dataset/x/resource/y/download/f.csv",
    "../files/f.csv", what CKAN and udata write for uploaded files, what a data.json lists beside itself) made
    absolute against `base` (the portal root, the document's URL); a link that is neither a web address nor
    such a path ("hhttps://…", "C:\\data\\f.csv") is noted under `distribution_url`, never silently dropped."""
    resolved: dict[str, Any] = {}
    for key in keys:
        link = item.get(key)
        if not isinstance(link, str) or not link.strip() or is_iri(link.strip()):
            continue
        if found := resolve_link(link, base):
            resolved[key] = found
        else:
            values.note("distribution_url", link.strip())
    return {**item, **resolved} if resolved else item


def licence_text(value: str | None) -> str | None:
    """A licence as the source wrote it when it names no licence fedcat knows and is not an IRI (the text a
    `licence_text` field keeps); None otherwise."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    return None if is_iri(text) or normalise.licence_uri(text) else text


class ValueMapper:
    def __init__(self) -> None:
        self.unmapped: dict[str, list[str]] = {}

    def noted(self, value: str) -> bool:
        """Whether `value` is already noted, under any property (one unread value is reported once)."""
        return any(value in noted for noted in self.unmapped.values())

    def note(self, prop: str, value: str) -> None:
        values = self.unmapped.setdefault(prop, [])
        if value not in values:
            values.append(value)

    def _one(
        self, prop: str, value: str | None, lookup: Callable[[str], Match | None], keep_iri: bool = True
    ) -> str | None:
        if value is None or not str(value).strip():
            return None
        value = str(value).strip()
        match = lookup(value)
        if match:
            return match.uri
        if keep_iri and is_iri(value):
            return value  # an IRI of a vocabulary fedcat does not carry: still a valid controlled value
        self.note(prop, value)
        return None

    def licence(self, value: str | None) -> str | None:
        return self._one("licence", value, normalise.licence_uri)

    def format(self, value: str | None) -> str | None:
        """The EU file-type URI, else the source's own label (kept as a literal and noted)."""
        if value is None or not str(value).strip():
            return None
        uri = self._one("format", value, normalise.format_uri)
        return uri or str(value).strip()

    def media_type(self, value: str | None) -> str | None:
        if not isinstance(value, str):  # a number, a list… where a media type belongs: noted, not read
            if value not in (None, "", [], {}):
                self.note("media_type", str(value))
            return None
        value = value.strip()
        if not value:
            return None
        return normalise.media_type_uri(value) or (value if is_iri(value) else None)

    def language(self, value: str | None) -> str | None:
        return self._one("language", value, normalise.language_uri)

    def frequency(self, value: str | None) -> str | None:
        return self._one("frequency", value, normalise.frequency_uri)

    def access_rights(self, value: str | None) -> str | None:
        return self._one("access_rights", value, normalise.access_right_uri)

    def themes(self, values: Iterable[str]) -> list[str]:
        uris: list[str] = []
        for value in values:
            if not isinstance(value, str) or not value.strip():
                continue
            matches = normalise.theme_uris(value)
            if matches:
                uris.extend(m.uri for m in matches if m.uri not in uris)
            elif is_iri(value):
                if value not in uris:
                    uris.append(value)
            else:
                self.note("theme", value.strip())
        return uris
