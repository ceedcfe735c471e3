"""Date normalisation: every shape harvested metadata uses, to an ISO 8601 string, never inventing precision.

The returned string's shape gives its XSD datatype (see `xsd_type`): "2019" gYear, "2019-03" gYearMonth,
"2019-03-04" date, "2019-03-04T10:00:00[Z|±hh:mm]" dateTime.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from functools import lru_cache

from .namespaces import XSD

# Digits are ASCII digits ([0-9], not \d: full-width and other Unicode digits are no date).
# ISO 8601 and its common deviations: one-digit month/day ("1999-4-4"), a space for "T", an hour-only offset
# ("+02", PostgreSQL output), a time glued to a partial date ("2002-01T00:00:00": the time is dropped).
_ISO = re.compile(
    r"^(?P<y>[0-9]{4})(?:-(?P<m>[0-9]{1,2})(?:-(?P<d>[0-9]{1,2}))?)?"
    r"(?:[T ](?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?P<frac>[.,][0-9]+)?)?"
    r" ?(?P<tz>Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$"
)
_COMPACT = re.compile(r"^(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})$")
# 31/12/2019, 31.12.2019, with an optional weekday (or a few words of label) before and time after
# (Drupal/DKAN: "jeu, 19/12/2019 - 03:00", "Date changed  jeu, 19/12/2019 - 03:00").
_SLASHED_DMY = re.compile(
    r"^(?:[^\W\d_]{2,10}\.?,?\s+){0,4}(?P<d>[0-9]{1,2})[/.](?P<m>[0-9]{1,2})[/.](?P<y>[0-9]{4})"
    r"(?:\s*-?\s*(?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2}))?)?$"
)
_SLASHED_YMD = re.compile(r"^(?P<y>[0-9]{4})/(?P<m>[0-9]{1,2})/(?P<d>[0-9]{1,2})$")
# a month by its name, as pages and Drupal/DKAN write dates: "19 décembre 2019", "1er mars 2020",
# "December 19, 2019", "19 Dec. 2019", "mars 2020" (weekday first or not)
_NAMED = re.compile(
    r"^(?:[^\W\d_]{2,10}\.?,?\s+)?(?:(?P<d1>[0-9]{1,2})(?:er)?\s+)?(?P<month>[^\W\d_]{3,10})\.?"
    r"(?:\s+(?P<d2>[0-9]{1,2}),?)?\s+(?P<y>[0-9]{4})$"
)
# month names and their common abbreviations, English and French (accents folded by the lookup)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan", "janvier", "janv"),
            ("february", "feb", "fevrier", "fev", "fevr"),
            ("march", "mar", "mars"),
            ("april", "apr", "avril", "avr"),
            ("may", "mai"),
            ("june", "jun", "juin"),
            ("july", "jul", "juillet", "juil"),
            ("august", "aug", "aout"),
            ("september", "sep", "sept", "septembre"),
            ("october", "oct", "octobre"),
            ("november", "nov", "novembre"),
            ("december", "dec", "decembre"),
        ),
        start=1,
    )
    for name in names
}


def _valid(y: int, m: int = 1, d: int = 1) -> bool:
    try:
        datetime(y, m, d)
    except ValueError:
        return False
    return 1000 <= y <= 2999


def _time(hh: str | None, mm: str | None, ss: str | None) -> str | None:
    """The HH:MM:SS of a valid time of day, else None (the date alone is kept)."""
    if hh is None:
        return None
    h, m, s = int(hh), int(mm or 0), int(ss or 0)
    return f"{h:02d}:{m:02d}:{s:02d}" if h <= 23 and m <= 59 and s <= 59 else None


@lru_cache(maxsize=65536)
def normalise_date(value: str | None, *, month_first: bool = False) -> str | None:
    """Return the ISO form of a harvested date, or None when it is not a date ("unknown", "R/P1W", "").

    `month_first` reads ambiguous slashed dates as US-style MM/DD/YYYY (data.json); the default is
    the European DD/MM/YYYY. A slashed date valid only in the other order ("06/17/2017") is read in that order.
    """
    if not value:
        return None
    text = str(value).strip()
    match = _ISO.match(text)
    if match:
        y, m, d = match["y"], match["m"], match["d"]
        if not _valid(int(y), int(m or 1), int(d or 1)):
            return None
        if m is None:
            return y
        if d is None:
            return f"{y}-{int(m):02d}"
        date = f"{y}-{int(m):02d}-{int(d):02d}"
        clock = _time(match["H"], match["M"], match["S"])
        if clock is None:
            return date
        tz = match["tz"] or ""
        if tz and tz != "Z":
            tz = tz.replace(":", "")
            tz = f"{tz[:3]}:{tz[3:] or '00'}"
            tz = "Z" if tz in ("+00:00", "-00:00") else tz
        return f"{date}T{clock}{tz}"
    match = _COMPACT.match(text) or _SLASHED_YMD.match(text)
    if match:
        y, m, d = int(match["y"]), int(match["m"]), int(match["d"])
        return f"{y:04d}-{m:02d}-{d:02d}" if _valid(y, m, d) else None
    match = _NAMED.match(text)
    if match:
        return _named(match)
    match = _SLASHED_DMY.match(text)
    if match:
        y, first, second = int(match["y"]), int(match["d"]), int(match["m"])
        orders = ((second, first), (first, second)) if month_first else ((first, second), (second, first))
        for d, m in orders:
            if _valid(y, m, d):
                clock = _time(match["H"], match["M"], match["S"])
                date = f"{y:04d}-{m:02d}-{d:02d}"
                return f"{date}T{clock}" if clock else date
    return None


def _named(match: re.Match[str]) -> str | None:
    """The date a `_NAMED` match gives: a day and its month, or a month alone; None for an unknown month
    name or a date with two days ("19 December 20, 2019")."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", match["month"].lower()) if c.isascii())
    month = _MONTHS.get(folded)
    if month is None or (match["d1"] and match["d2"]):
        return None
    y, day = int(match["y"]), match["d1"] or match["d2"]
    if day is None:
        return f"{y:04d}-{month:02d}" if _valid(y, month) else None
    return f"{y:04d}-{month:02d}-{int(day):02d}" if _valid(y, month, int(day)) else None


def xsd_type(iso: str) -> str:
    """The XSD datatype URI matching the shape of a `normalise_date` result."""
    if "T" in iso:
        return XSD + "dateTime"
    return XSD + {4: "gYear", 7: "gYearMonth"}.get(len(iso), "date")


def sort_key(iso: str | None) -> str:
    """A lexically sortable form of a normalised date (the start of the period it names)."""
    if not iso:
        return ""
    return (iso + "-01-01"[len(iso) - 4 :])[:10] if len(iso) < 10 else iso[:10]


# xsd:duration ("P1D", "PT15M", "P1Y2M"): at least one component, a "T" only before time components
_DURATION = re.compile(
    r"^-?P(?=[0-9T])(?:[0-9]+Y)?(?:[0-9]+M)?(?:[0-9]+D)?(?:T(?=[0-9])(?:[0-9]+H)?(?:[0-9]+M)?(?:[0-9]+(?:\.[0-9]+)?S)?)?$"
)


def normalise_duration(value: str | None) -> str | None:
    """An xsd:duration as written, or None when `value` is not one (dcat:temporalResolution)."""
    if not value:
        return None
    value = value.strip().upper()
    return value if _DURATION.match(value) and not value.endswith("T") else None


_SIZE = re.compile(r"^(?P<number>[0-9]+(?:[.,][0-9]+)?)\s*(?P<unit>[a-zA-Z]*)$")
# byte-size units as portals write them, in English and French (octets), decimal and binary
_UNITS = {
    **dict.fromkeys(("", "b", "byte", "bytes", "o", "octet", "octets"), 1),
    **{u: 1000 for u in ("kb", "ko")} | {u: 1024 for u in ("kib", "kio")},
    **{u: 1000**2 for u in ("mb", "mo")} | {u: 1024**2 for u in ("mib", "mio")},
    **{u: 1000**3 for u in ("gb", "go")} | {u: 1024**3 for u in ("gib", "gio")},
    **{u: 1000**4 for u in ("tb", "to")} | {u: 1024**4 for u in ("tib", "tio")},
}


def normalise_byte_size(value: object) -> int | None:
    """A size in bytes from "1234", "1234.0", "1,234", "1e6", "42 octets", "12,5 Mo", "1.2 MB", "3 GiB" (a
    space as thousands separator: "1 234 567"); None when it names no size."""
    text = re.sub(r"(?<=[0-9])[\s\u202f\xa0](?=[0-9]{3}\b)", "", str(value).strip())
    match = _SIZE.match(text)
    factor = _UNITS.get(match["unit"].lower()) if match else None
    if match is None or factor is None:
        try:  # "1e6"
            number, factor = float(text), 1
        except ValueError:
            return None
    else:  # a comma in a count of bytes separates thousands ("1,234"), in a count of Mo decimals ("12,5 Mo")
        number = float(match["number"].replace(",", "" if factor == 1 else "."))
    size = number * factor
    return int(size) if 0 <= size < 2**63 else None


def normalise_decimal(value: object) -> str | None:
    """A non-negative xsd:decimal's lexical form ("10", "1.5"; "1e3" -> "1000"), or None when `value` is no
    such number (dcat:spatialResolutionInMeters)."""
    text = str(value).strip()
    if re.fullmatch(r"\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)", text):
        return text.lstrip("+")
    try:
        number = float(text)
    except ValueError:
        return None
    if not (0 <= number < float("inf")):
        return None
    return format(number, "f").rstrip("0").rstrip(".") or "0"
