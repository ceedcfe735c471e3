"""Expected dataset families (`families.yaml`): which a dataset belongs to, and which a body is expected to have.

`recognise(dataset_json)` reads a stored dataset once, when its audit facts are made (`report.refresh_facts`),
and returns the ids of its families, most reliable evidence first: a schema its dct:conformsTo names, an EU
high-value dataset category, then words of its title or keywords (folded as names are, `fold`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import yaml

from ..mappings.model import Text
from ..mappings.vocabularies import fold

TABLE = Path(__file__).parent / "families.yaml"
_SCHEMA_NAME = re.compile(r"([a-z0-9_.-]+/[a-z0-9_.-]+)")
_URL_START = re.compile(r"^[a-z]+://(?:www\.)?")


@dataclass(frozen=True)
class Family:
    id: str
    label: str
    expected: frozenset[str]  # kinds of body expected to publish it (when obligated)
    recommended: frozenset[str] | None  # kinds it is recommended of; None: every kind
    basis: str

    def concerns(self, kind: str) -> bool:
        return kind in self.expected or self.recommended is None or kind in self.recommended

    def describe(self) -> dict[str, Any]:
        """As reports list it (`recommended` null: every kind)."""
        recommended = sorted(self.recommended) if self.recommended is not None else None
        return {"id": self.id, "label": self.label, "expected": sorted(self.expected),
                "recommended": recommended, "basis": self.basis}  # fmt: skip


@dataclass(frozen=True)
class Families:
    families: dict[str, Family]  # in table order
    schemas: dict[str, tuple[str, ...]]  # schema name (owner/name) -> family ids
    schema_url: re.Pattern[str]  # a conformsTo URL (folded start) naming a schema: group 1 is its name
    hvd: dict[str, tuple[str, ...]]  # HVD category URI -> family ids
    words: re.Pattern[str]  # every family's words over folded text: the group named is the family's
    groups: dict[str, str | None]  # group name -> family id; None: an `except` phrase, which counts for none
    stamp: str  # changes with the table: audit facts are recognised again when it does

    def expected_of(self, kind: str) -> list[str]:
        return [f.id for f in self.families.values() if kind in f.expected]


class _Evidence(msgspec.Struct):
    """The parts of a stored dataset recognition reads (the rest is skipped by the decoder)."""

    class _Distribution(msgspec.Struct):
        conforms_to: list[str] = []

    title: list[Text] = []
    keywords: list[Text] = []
    conforms_to: list[str] = []
    hvd_categories: list[str] = []
    distributions: list[_Distribution] = []


_evidence = msgspec.json.Decoder(_Evidence)


def _phrases(phrases: list[str], where: str) -> str:
    """Folded phrases as one alternation; a word ending in * matches any ending."""
    alternatives = []
    for phrase in phrases:
        words = []
        for word in str(phrase).split():
            folded = fold(word.rstrip("*"))
            if not folded or " " in folded:
                raise ValueError(f"{where}: {word!r} is not one word once folded")
            words.append(re.escape(folded) + (r"\w*" if word.endswith("*") else ""))
        alternatives.append(" ".join(words))
    return "|".join(alternatives)


def _kinds(value: Any, where: str) -> frozenset[str] | None:
    if value == "any":
        return None
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{where}: expected a list of kinds (or `any` for recommended)")
    return frozenset(value)


@cache
def families() -> Families:
    """The families table, checked: a broken table fails loudly at first use."""
    data = TABLE.read_bytes()
    table = yaml.safe_load(data)
    hosts = [_URL_START.sub("", h.lower()).rstrip("/") + "/" for h in table["schema_urls"]]
    hosts.sort(key=len, reverse=True)  # schema.data.gouv.fr/schemas/ before schema.data.gouv.fr/
    schema_url = re.compile("^(?:" + "|".join(map(re.escape, hosts)) + ")" + _SCHEMA_NAME.pattern)
    found: dict[str, Family] = {}
    schemas: dict[str, list[str]] = {}
    hvd: dict[str, list[str]] = {}
    # except phrases first: at a position where both match, the phrase wins ("budget participatif")
    excepted: list[str] = []
    words: list[str] = []
    groups: dict[str, str | None] = {}
    initials: set[str] = set()  # the letters a phrase starts with: a lookahead halves the matching time
    allowed = {"id", "label", "expected", "recommended", "basis", "schemas", "hvd", "words", "except"}
    for i, entry in enumerate(table["families"]):
        where = f"{TABLE.name} families[{i}]"
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) for k in ("id", "label", "basis")
        ):
            raise ValueError(f"{where}: each family needs an `id`, a `label` and a `basis`")
        if set(entry) - allowed:
            raise ValueError(f"{where}: unknown keys {', '.join(sorted(set(entry) - allowed))}")
        if entry["id"] in found:
            raise ValueError(f"{where}: family {entry['id']!r} listed twice")
        if not (entry.get("schemas") or entry.get("hvd") or entry.get("words")):
            raise ValueError(f"{where}: no way to recognise it (schemas, hvd or words)")
        expected = _kinds(entry.get("expected", []), where)
        if expected is None:
            raise ValueError(f"{where}: `expected` lists kinds (`any` is for `recommended`)")
        found[entry["id"]] = Family(
            entry["id"], entry["label"], expected, _kinds(entry.get("recommended", []), where),
            " ".join(entry["basis"].split()),
        )  # fmt: skip
        for key, into, family in (("except", excepted, None), ("words", words, entry["id"])):
            if entry.get(key):
                name = f"g{len(groups)}"
                groups[name] = family
                into.append(f"(?P<{name}>{_phrases(entry[key], where)})")
                initials.update(fold(phrase)[:1] for phrase in entry[key])
        for name in entry.get("schemas", []):
            schemas.setdefault(name.lower(), []).append(entry["id"])
        for uri in entry.get("hvd", []):
            hvd.setdefault(uri, []).append(entry["id"])
    return Families(
        found,
        {k: tuple(v) for k, v in schemas.items()},
        schema_url,
        {k: tuple(v) for k, v in hvd.items()},
        re.compile(
            rf"\b(?=[{''.join(sorted(initials))}])(?:{'|'.join(excepted + words)})\b" if words else "(?!)"
        ),
        groups,
        hashlib.blake2b(data, digest_size=8).hexdigest(),
    )


def recognise(dataset_json: str | bytes) -> str | None:
    """The ids of a stored dataset's families, as a JSON array in table order; None when it has none."""
    table = families()
    evidence = _evidence.decode(dataset_json)
    ids: set[str] = set()
    for uri in [*evidence.conforms_to, *(u for d in evidence.distributions for u in d.conforms_to)]:
        named = table.schema_url.match(_URL_START.sub("", uri.strip().lower()))
        if named:
            ids.update(table.schemas.get(named.group(1).removesuffix(".git"), ()))
    for uri in evidence.hvd_categories:
        ids.update(table.hvd.get(uri, ()))
    # one pass over the title and keywords, one per line: a phrase does not run from one to the next
    text = "\n".join(fold(t.value) for t in (*evidence.title, *evidence.keywords))
    for match in table.words.finditer(text):
        family = table.groups[match.lastgroup or ""]
        if family is not None:
            ids.add(family)
    if not ids:
        return None
    return msgspec.json.encode([f for f in table.families if f in ids]).decode()
