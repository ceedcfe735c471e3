"""Date normalisation: every shape harvested metadata uses, to an ISO 8601 string, never inventing precision.

The returned string's shape gives its XSD datatype (see `xsd_type`): "2019" gYear, "2019-03" gYearMonth,
"2019-03-04" date, "2019-03-04T10:00:00[Z|±hh:mm]" dateTime.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache

from .namespaces import XSD

_ISO = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:[T ](?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<frac>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)
_COMPACT = re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$")
_SLASHED_DMY = re.compile(r"^(?P<d>\d{1,2})[/.](?P<m>\d{1,2})[/.](?P<y>\d{4})$")
_SLASHED_YMD = re.compile(r"^(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})$")


def _valid(y: int, m: int = 1, d: int = 1) -> bool:
    try:
        datetime(y, m, d)
    except ValueError:
        return False
    return 1000 <= y <= 2999


@lru_cache(maxsize=65536)
def normalise_date(value: str | None, *, month_first: bool = False) -> str | None:
    """Return the ISO form of a harvested date, or None when it is not a date ("unknown", "R/P1W", "").

    `month_first` reads ambiguous slashed dates as US-style MM/DD/YYYY (data.json); the default is
    the European DD/MM/YYYY.
    """
    if not value:
        return None
    text = value.strip()
    match = _ISO.match(text)
    if match:
        y, m, d = match["y"], match["m"], match["d"]
        if not _valid(int(y), int(m or 1), int(d or 1)):
            return None
        if m is None:
            return y
        if d is None:
            return f"{y}-{m}"
        if match["H"] is None:
            return f"{y}-{m}-{d}"
        hh, mm, ss = int(match["H"]), int(match["M"]), int(match["S"] or 0)
        if hh > 23 or mm > 59 or ss > 59:
            return f"{y}-{m}-{d}"
        tz = match["tz"] or ""
        if tz and tz != "Z":
            tz = tz if ":" in tz else f"{tz[:3]}:{tz[3:]}"
            tz = "Z" if tz in ("+00:00", "-00:00") else tz
        return f"{y}-{m}-{d}T{hh:02d}:{mm:02d}:{ss:02d}{tz}"
    for pattern in (_COMPACT, _SLASHED_YMD, _SLASHED_DMY):
        match = pattern.match(text)
        if match:
            y, m, d = int(match["y"]), int(match["m"]), int(match["d"])
            if pattern is _SLASHED_DMY and month_first:
                m, d = d, m
            return f"{y:04d}-{m:02d}-{d:02d}" if _valid(y, m, d) else None
    return None


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
