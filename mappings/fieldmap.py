"""Field maps as data: the plain renames and lookups of a platform's JSON records onto the model.

A map (`mappings/fieldmaps/<platform>.yaml`) has one section per model class (`dataset`, `distribution`,
`publisher`, …); each entry names the model field, where to read it (`from`: one path or a list of
fallback paths) and how to read it (`as`: a kind below). Paths are dotted keys with `[*]` for every item of
a list: `resources[*].url`, `organization.name`. Adapters keep code only for what truly needs logic.

    dataset:
      title: {from: title, as: text}
      keywords: {from: "tags[*]", as: texts}
      modified: {from: [last_modified, created_at], as: date}
      licence: {from: license, as: licence}

`split: true` reads a list that a portal wrote as one text ("transport, vélo; bus" where a list of keywords
belongs): a value read by a path that does not end with `[*]` is split on commas and semicolons.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .dates import normalise_byte_size, normalise_date, normalise_decimal, normalise_duration
from .model import Text
from .normalise import says_nothing
from .values import ValueMapper, is_iri, licence_text

FIELDMAPS = Path(__file__).parent / "fieldmaps"


KeyPath = tuple[tuple[str, bool], ...]  # (key, every item of a list?) per step
_SEPARATORS = re.compile(r"\s*[,;]\s*")


def compile_path(path: str) -> KeyPath:
    return tuple((part[:-3], True) if part.endswith("[*]") else (part, False) for part in path.split("."))


_EMPTY: tuple[Any, ...] = ("", [], {})  # what a path never yields


def extract(obj: Any, path: str | KeyPath) -> list[Any]:
    """Every non-empty value at `path` in a JSON object (lists flattened)."""
    current = [obj]
    for key, each in compile_path(path) if isinstance(path, str) else path:
        following: list[Any] = []
        for item in current:
            value = item.get(key) if isinstance(item, dict) else None
            if value is None:
                continue
            if each and isinstance(value, list):
                following.extend(v for v in value if v is not None)
            elif not each:
                following.append(value)
        if not following:
            return []
        current = following
    return [v for v in current if v not in _EMPTY]


Extractor = Callable[[Any], list[Any]]


def extractor(path: KeyPath) -> Extractor:
    """`extract` of one compiled path, specialised for the shapes most paths have (one or two plain keys,
    a list of one key's values): the map is applied to every field of every record, where the general
    walk's loops were most of a JSON mapping's time. Same answers as `extract`."""
    if len(path) == 1:
        [(key, each)] = path
        if not each:

            def one(obj: Any) -> list[Any]:
                value = obj.get(key) if isinstance(obj, dict) else None
                return [] if value is None or value in _EMPTY else [value]

            return one

        def items(obj: Any) -> list[Any]:
            value = obj.get(key) if isinstance(obj, dict) else None
            if not isinstance(value, list):
                return []
            return [v for v in value if v is not None and v not in _EMPTY]

        return items
    if len(path) == 2 and not path[0][1] and not path[1][1]:
        (outer, _), (inner, _) = path

        def nested(obj: Any) -> list[Any]:
            parent = obj.get(outer) if isinstance(obj, dict) else None
            value = parent.get(inner) if isinstance(parent, dict) else None
            return [] if value is None or value in _EMPTY else [value]

        return nested
    return lambda obj: extract(obj, path)


def _strings(values: list[Any]) -> list[str]:
    return [s for v in values if not isinstance(v, dict | list) and (s := str(v).strip())]


def _first(values: list[Any]) -> str | None:
    strings = _strings(values)
    return strings[0] if strings else None


def _bytes(values: list[Any]) -> int | None:
    return next(
        (size for value in _strings(values) if (size := normalise_byte_size(value)) is not None), None
    )


Reader = Callable[[list[Any], ValueMapper, str | None], Any]

KINDS: dict[str, Reader] = {
    "string": lambda v, m, lang: _first(v),
    "strings": lambda v, m, lang: list(dict.fromkeys(_strings(v))),
    "text": lambda v, m, lang: [Text(s, lang) for s in _strings(v)[:1]],
    "texts": lambda v, m, lang: [Text(s, lang) for s in dict.fromkeys(_strings(v))],
    "uri": lambda v, m, lang: next((s for s in _strings(v) if is_iri(s)), None),
    "uris": lambda v, m, lang: list(dict.fromkeys(s for s in _strings(v) if is_iri(s))),
    "date": lambda v, m, lang: next((d for s in _strings(v) if (d := normalise_date(s))), None),
    "bytes": lambda v, m, lang: _bytes(v),
    "decimal": lambda v, m, lang: next((d for s in _strings(v) if (d := normalise_decimal(s))), None),
    "decimals": lambda v, m, lang: list(dict.fromkeys(d for s in _strings(v) if (d := normalise_decimal(s)))),
    "duration": lambda v, m, lang: next((d for s in _strings(v) if (d := normalise_duration(s))), None),
    "licence": lambda v, m, lang: m.licence(_first(v)),
    "licence_text": lambda v, m, lang: licence_text(_first(v)),
    "format": lambda v, m, lang: m.format(_first(v)),
    "media_type": lambda v, m, lang: m.media_type(_first(v)),
    "frequency": lambda v, m, lang: m.frequency(_first(v)),
    "access_rights": lambda v, m, lang: m.access_rights(_first(v)),
    "languages": lambda v, m, lang: [u for s in dict.fromkeys(_strings(v)) if (u := m.language(s))],
    "themes": lambda v, m, lang: m.themes(_strings(v)),
}


# kinds whose values a source gives that cannot be read (a date, a number, a duration, a link that is no IRI)
# are noted as unmapped
NOTED_KINDS = frozenset({"date", "bytes", "decimal", "decimals", "duration", "uri", "uris"})


class FieldMap:
    def __init__(self, name: str, data: dict[str, Any]) -> None:
        self.name = name
        self.lang: str | None = data.get("language")
        self.sections: dict[str, dict[str, tuple[tuple[tuple[Extractor, bool], ...], Reader, str]]] = {}
        for section, fields in data.items():
            if section == "language":
                continue
            compiled = {}
            for field, spec in fields.items():
                paths = spec["from"] if isinstance(spec["from"], list) else [spec["from"]]
                if spec["as"] not in KINDS:
                    raise ValueError(f"fieldmap {name}: {section}.{field}: unknown kind {spec['as']!r}")
                split = bool(spec.get("split"))
                compiled[field] = (
                    tuple((extractor(path := compile_path(p)), split and not path[-1][1]) for p in paths),
                    KINDS[spec["as"]],
                    spec["as"],
                )
            self.sections[section] = compiled

    def apply(self, section: str, obj: Any, values: ValueMapper, lang: str | None = None) -> dict[str, Any]:
        """Model-field keyword arguments read from `obj` (fields with nothing to read are left out)."""
        found: dict[str, Any] = {}
        for field, (paths, read, kind) in self.sections[section].items():
            for path, split in paths:  # fallbacks: the first path that yields a value wins
                raw = path(obj)
                if split:
                    raw = [
                        part for v in raw for part in (_SEPARATORS.split(v) if isinstance(v, str) else [v])
                    ]
                if not raw:
                    continue
                value = read(raw, values, lang or self.lang)
                read_all = value not in (None, []) and (kind != "uris" or len(value) == len(raw))
                if kind in NOTED_KINDS and not read_all:
                    # "June 2019", "about 3 GB", a link list read in part: what the source said and fedcat
                    # could not read is kept in the report, once
                    key = field if section == "dataset" else f"{section}_{field}"
                    for text in _strings(raw):
                        if text not in (value or ()) and not says_nothing(text) and not values.noted(text):
                            values.note(key, text)
                if value not in (None, []):
                    found[field] = value
                    break
        return found


@cache
def fieldmap(name: str) -> FieldMap:
    """The map `mappings/fieldmaps/<name>.yaml`, loaded once."""
    with (FIELDMAPS / f"{name}.yaml").open(encoding="utf-8") as fh:
        return FieldMap(name, yaml.safe_load(fh))
