"""Content negotiation, once for every router that offers several media types (linked data, SPARQL), and
the language of the labels and texts the JSON answers choose (`Accept-Language`).

It follows RFC 9110: the Accept media ranges with their q-values, the most specific range deciding each
offer's quality, ties going to the server's first offer; nothing acceptable gives 406 with the offered types.
A format extension (`/catalog.ttl`) overrides Accept.
"""

from functools import lru_cache

from fastapi import Request
from fastapi.responses import Response

from .errors import error_response

MEDIA_TYPES = {
    "ttl": "text/turtle",
    "nt": "application/n-triples",
    "rdf": "application/rdf+xml",
    "jsonld": "application/ld+json",
    "html": "text/html",
}
# (media type, format) in the server's order of preference: ties in the client's q-values go to the first
RDF_OFFERS = (
    ("text/turtle", "ttl"),
    ("application/ld+json", "jsonld"),
    ("application/rdf+xml", "rdf"),
    ("application/n-triples", "nt"),
    ("application/json", "jsonld"),  # JSON-LD is JSON: a client asking for JSON can read it
)
DOCUMENT_OFFERS = (*RDF_OFFERS, ("text/html", "html"), ("application/xhtml+xml", "html"))

Offers = tuple[tuple[str, str], ...]


def parse_accept(header: str | None) -> list[tuple[str, float]]:
    """(media range, q) of an Accept header; malformed parts are skipped, a bad q counts as 0."""
    ranges = []
    for part in (header or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        if "/" not in media:
            media = "*/*" if media == "*" else media  # "*" alone: some clients send it
            if "/" not in media:
                continue
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        ranges.append((media, q))
    return ranges


def negotiate(header: str | None, offers: Offers) -> str | None:
    """The offer (its format key) the client prefers; None when none is acceptable (406).

    Each offer gets the q of the most specific range matching it (type/subtype over type/* over */*);
    the highest q wins, ties go to the server's order. No Accept header accepts anything.
    """
    ranges = parse_accept(header)
    if not ranges:
        return offers[0][1]
    best, best_q = None, 0.0
    for media, key in offers:
        kind = media.split("/")[0]
        quality, specificity = None, -1
        for pattern, q in ranges:
            if pattern == media:
                level = 2
            elif pattern == f"{kind}/*":
                level = 1
            elif pattern == "*/*":
                level = 0
            else:
                continue
            if level > specificity:
                quality, specificity = q, level
        if quality is not None and quality > best_q:
            best, best_q = key, quality
    return best


def not_acceptable(offers: Offers) -> Response:
    types = ", ".join(dict.fromkeys(media for media, _ in offers))
    return error_response(
        406, f"none of the requested media types is available; this resource is offered as: {types}"
    )


def format_for(request: Request, ext: str | None, offers: Offers) -> str | Response:
    """The format to answer in: the extension's when given, else the Accept header's (or a 404/406)."""
    if ext is not None:
        if ext not in MEDIA_TYPES or (ext == "html" and offers is RDF_OFFERS):
            known = ", ".join("." + e for e in MEDIA_TYPES if e != "html")
            return error_response(404, f"unknown format extension .{ext} (use one of {known})", "format")
        return ext
    chosen = negotiate(request.headers.get("accept"), offers)
    return chosen if chosen is not None else not_acceptable(offers)


def split_extension(name: str) -> tuple[str, str | None]:
    """ "abc.ttl" -> ("abc", "ttl"); fedcat ids never contain a dot."""
    base, dot, ext = name.rpartition(".")
    return (base, ext.lower()) if dot and base else (name, None)


# Labels and texts default to French, then English: fedcat's first users are French portals.
DEFAULT_LANGUAGES = ("fr", "en")


def languages(request: Request) -> tuple[str, ...]:
    """The languages a JSON answer should pick its labels and texts in, best first: the client's
    `Accept-Language` (q-values honoured, primary subtags), then French and English."""
    return tuple(
        dict.fromkeys([*accepted_languages(request.headers.get("accept-language")), *DEFAULT_LANGUAGES])
    )


@lru_cache(maxsize=1024)
def accepted_languages(header: str | None) -> tuple[str, ...]:
    """The primary language subtags an `Accept-Language` header asks for, best first (q-values, then the
    client's order; q=0 and malformed tags left out). The web pages choose their language from it too."""
    ranked = []
    for position, part in enumerate((header or "")[:1000].split(",")):
        tag, *params = (f.strip() for f in part.split(";"))
        primary = tag.lower().split("-")[0]
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if q > 0 and primary.isascii() and primary.isalpha() and len(primary) <= 8:
            ranked.append((-q, position, primary))
    return tuple(dict.fromkeys(primary for _q, _position, primary in sorted(ranked)))
