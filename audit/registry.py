"""The registry of public bodies: who they are, their inhabitants and agents, what they belong to.

Loaded from the data files an administrator points at (`settings.bodies`, `fedcat audit --bodies`), in order:

- the JSON files of @etalab/decoupage-administratif (`communes.json`, `epci.json`, `departements.json`,
  `regions.json`, `ept.json`), recognised item by item: communes (only `type: commune-actuelle`; the
  communes déléguées and associées and the municipal arrondissements are parts of a commune, not bodies),
  EPCI à fiscalité propre (`code` is the SIREN; `membres` says which communes they group), départements and
  régions (no SIREN in the package; the collectivités d'outre-mer are kind `com`, kept once, from the
  départements file). Departmental arrondissements are State districts, not bodies: skipped.
- fedcat's own bodies file, CSV or YAML, with the columns `id, name, kind, population, agents, parent,
  siren, aliases, website` (docs/audit.md; `website`: the body's own site, which `fedcat discover --bodies`
  crawls): to declare administrations with their
  agents, or to add figures to a body an earlier file loaded (a row whose `id` is known fills in the
  fields it gives).

A body's id is its jurisdiction key as `sources.yaml` writes jurisdictions: `commune:59350` (code INSEE),
`epci:200093201` (SIREN), `departement:59`, `region:32`; declared bodies choose theirs. A malformed entry
is reported (`Registry.problems`, with its file and position) and skipped; a file that cannot be read at
all raises `RegistryError`.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import yaml

from .names import name_key

COUNTRY = "country:FR"  # every body of the French files lies within it
EPCI_TYPES = frozenset({"CC", "CA", "CU", "METRO", "MET69"})
DECLARED_FIELDS = ("id", "name", "kind", "population", "agents", "parent", "siren", "aliases", "website")
_SIREN = re.compile(r"^\d{9}$")
MAX_PROBLEMS = 1000  # a wholly wrong file says so without a million lines


class RegistryError(Exception):
    """A bodies file that cannot be read at all (missing, unreadable, not the expected format)."""


@dataclass(slots=True)
class Body:
    id: str
    name: str
    kind: str
    population: int | None = None
    agents: float | None = None  # full-time equivalents
    parent: str | None = None  # the jurisdiction it belongs to (a commune's département, …)
    siren: str | None = None
    aliases: list[str] = field(default_factory=list)
    website: str | None = None  # its own website's home page (http or https)
    groups: set[str] = field(default_factory=set)  # other jurisdictions it lies in (région, EPCI, country)
    within: frozenset[str] = (
        frozenset()
    )  # itself and everything it lies in, transitively (set by the registry)


class _Member(msgspec.Struct):
    code: str


class _Item(msgspec.Struct):
    """The fields fedcat reads from an @etalab/decoupage-administratif item (others are ignored)."""

    code: str
    nom: str
    type: str | None = None
    siren: str | None = None
    population: int | None = None
    populationTotale: int | None = None
    departement: str | None = None
    region: str | None = None
    chefLieu: str | None = None
    zone: str | None = None
    membres: list[_Member] = []


class Registry:
    def __init__(self) -> None:
        self.bodies: dict[str, Body] = {}
        self._jurisdictions: frozenset[str] | None = None
        self.problems: list[str] = []
        self.skipped: Counter[str] = Counter()  # left out on purpose, by reason
        self.files: list[str] = []  # names of the files read, in order
        self.load_seconds = 0.0
        self._by_siren: dict[str, str] = {}
        self._by_name: dict[str, list[str]] = {}
        # commune id -> the EPCI (and EPT) listing it among their members, while loading
        self._member_of: dict[str, set[str]] = {}

    @classmethod
    def load(cls, paths: Iterable[Path | str]) -> Registry:
        """Read the files in order; later files add bodies or fill in figures of earlier ones."""
        registry = cls()
        start = time.perf_counter()
        for path in map(Path, paths):
            registry._load_file(path)
        registry._finish()
        registry.load_seconds = time.perf_counter() - start
        return registry

    def __len__(self) -> int:
        return len(self.bodies)

    def get(self, body_id: str) -> Body | None:
        return self.bodies.get(body_id)

    def by_siren(self, siren: str) -> Body | None:
        found = self._by_siren.get(siren)
        return self.bodies[found] if found else None

    def named(self, key: str) -> list[Body]:
        """The bodies one of whose names has this key (`names.name_key`)."""
        return [self.bodies[i] for i in self._by_name.get(key, ())]

    def kinds(self) -> list[str]:
        return sorted({b.kind for b in self.bodies.values()})

    def jurisdictions(self) -> frozenset[str]:
        """Every key some body lies within (itself included): what `within` filters can name."""
        if self._jurisdictions is None:
            self._jurisdictions = frozenset().union(*(b.within for b in self.bodies.values()))
        return self._jurisdictions

    # --- reading ---------------------------------------------------------------------------------------

    def _problem(self, where: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{where}: {message}")
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append("… more problems not listed")

    def _load_file(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RegistryError(f"cannot read the bodies file {path}: {exc.strerror or exc}") from None
        self.files.append(path.name)
        suffix = path.suffix.lower()
        if suffix == ".json":
            self._load_decoupage(path, data)
        elif suffix == ".csv":
            self._load_csv(path, data)
        elif suffix in (".yaml", ".yml"):
            self._load_yaml(path, data)
        else:
            raise RegistryError(
                f"{path}: unknown kind of bodies file (expected .json from @etalab/decoupage-administratif, "
                ".csv or .yaml)"
            )

    def _load_decoupage(self, path: Path, data: bytes) -> None:
        try:
            # Raw: each item is decoded on its own, so one bad item is one problem, not a lost file
            items = msgspec.json.decode(data, type=list[msgspec.Raw])
        except msgspec.DecodeError as exc:
            raise RegistryError(f"{path}: not a JSON array of items ({exc})") from None
        decode = msgspec.json.Decoder(_Item).decode
        for index, raw in enumerate(items):
            try:
                item = decode(raw)
            except msgspec.DecodeError as exc:
                self._problem(f"{path.name} item {index}", str(exc))
                continue
            self._decoupage_item(item, f"{path.name} item {index}")

    def _decoupage_item(self, item: _Item, where: str) -> None:
        if item.type is not None and item.type.startswith(("commune-", "arrondissement-")):
            if item.type != "commune-actuelle":
                self.skipped["communes déléguées, associées and municipal arrondissements"] += 1
                return
            if not item.departement:
                self._problem(where, f"commune {item.code} has no departement")
                return
            body = Body(f"commune:{item.code}", item.nom, "commune", item.population,
                        parent=f"departement:{item.departement}", siren=item.siren)  # fmt: skip
            if item.region:
                body.groups.add(f"region:{item.region}")
        elif item.type in EPCI_TYPES or item.type == "EPT":
            kind = "epci" if item.type in EPCI_TYPES else "ept"
            body = Body(f"{kind}:{item.code}", item.nom, kind, item.populationTotale, siren=item.code)
            for member in item.membres:  # the communes learn their groupings in _finish
                self._member_of.setdefault(f"commune:{member.code}", set()).add(body.id)
        elif item.type is not None:
            self._problem(where, f"unknown type {item.type!r}")
            return
        elif item.departement:  # an arrondissement départemental: a State district
            self.skipped["departmental arrondissements (State districts, not bodies)"] += 1
            return
        elif item.region:
            kind = "com" if item.zone == "com" else "departement"
            body = Body(f"departement:{item.code}", item.nom, kind, parent=f"region:{item.region}")
        elif item.zone == "com":
            self.skipped[
                "collectivités d'outre-mer of the regions file (kept from the departements file)"
            ] += 1
            return
        else:
            body = Body(f"region:{item.code}", item.nom, "region")
        if item.siren is not None and not _SIREN.match(item.siren):
            self._problem(where, f"siren {item.siren!r} is not 9 digits; ignored")
            body.siren = None
        body.groups.add(COUNTRY)
        self._add(body, where)

    def _load_csv(self, path: Path, data: bytes) -> None:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RegistryError(f"{path}: not UTF-8 text ({exc})") from None
        header_line = text.split("\n", 1)[0]
        # spreadsheets set to French export CSV with semicolons
        delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        header = [h.strip() for h in reader.fieldnames or []]
        if "id" not in header:
            raise RegistryError(f"{path}: the first line must name the columns, `id` among them")
        unknown = [h for h in header if h not in DECLARED_FIELDS]
        if unknown:
            self._problem(
                path.name,
                f"unknown columns {', '.join(unknown)} ignored (expected {', '.join(DECLARED_FIELDS)})",
            )
        for row in reader:
            values = {
                k.strip(): (v or "").strip() for k, v in row.items() if k and k.strip() in DECLARED_FIELDS
            }
            values["aliases"] = [a.strip() for a in values.get("aliases", "").split("|") if a.strip()]
            self._declared(
                {k: v for k, v in values.items() if v not in ("", [])}, f"{path.name} line {reader.line_num}"
            )

    def _load_yaml(self, path: Path, data: bytes) -> None:
        try:
            loaded = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise RegistryError(f"{path}: not valid YAML ({exc})") from None
        entries = loaded.get("bodies") if isinstance(loaded, dict) else None
        if not isinstance(entries, list):
            raise RegistryError(f"{path}: expected a mapping with a `bodies:` list")
        for index, entry in enumerate(entries):
            where = f"{path.name} bodies[{index}]"
            if not isinstance(entry, dict):
                self._problem(where, "expected a mapping of " + ", ".join(DECLARED_FIELDS))
                continue
            unknown = sorted(str(k) for k in entry if k not in DECLARED_FIELDS)
            if unknown:
                self._problem(where, f"unknown keys {', '.join(unknown)} ignored")
            self._declared({k: v for k, v in entry.items() if k in DECLARED_FIELDS and v is not None}, where)

    def _declared(self, values: dict[str, Any], where: str) -> None:
        """One row of a bodies file: a new body, or figures for a known one."""
        body_id = str(values.get("id", "")).strip()
        if not body_id or any(c.isspace() for c in body_id):
            self._problem(where, f"`id` is required, without spaces (got {body_id!r})")
            return
        figures: dict[str, Any] = {}
        for name, kind in (("population", int), ("agents", float)):
            if name in values:
                try:  # "238 246": spaces are thousands separators in French
                    figures[name] = kind("".join(str(values[name]).split()))
                except ValueError:
                    figures[name] = -1
                if figures[name] < 0:
                    self._problem(
                        where,
                        f"`{name}` must be a non-negative number (decimals with '.'), got {values[name]!r}",
                    )
                    return
        siren = str(values["siren"]).strip() if "siren" in values else None
        if siren is not None and not _SIREN.match(siren):
            self._problem(where, f"`siren` must be 9 digits, got {values['siren']!r}")
            return
        aliases = values.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            self._problem(where, "`aliases` must be a list of names")
            return
        website = str(values.get("website") or "").strip() or None
        if website is not None and not website.startswith(("http://", "https://")):
            self._problem(where, f"`website` must be an http(s) address, got {website!r}")
            return
        text = {
            k: str(values[k]).strip() for k in ("name", "kind", "parent") if str(values.get(k, "")).strip()
        }
        body = self.bodies.get(body_id)
        if body is None:
            missing = [k for k in ("name", "kind") if not text.get(k)]
            if missing:
                self._problem(where, f"new body {body_id}: {' and '.join(missing)} required")
                return
            body = Body(body_id, text["name"], text["kind"])
            self._add(body, where)
        for key, value in (*text.items(), *figures.items(), ("siren", siren), ("website", website)):
            if value is not None:
                setattr(body, key, value)
        body.aliases.extend(aliases)

    def _add(self, body: Body, where: str) -> None:
        if body.id in self.bodies:
            self._problem(where, f"{body.id} is listed twice; the first one is kept")
            return
        self.bodies[body.id] = body

    # --- indexes ---------------------------------------------------------------------------------------

    def _finish(self) -> None:
        """Memberships, what each body lies within, and the SIREN and name indexes."""
        for commune_id, groupings in self._member_of.items():
            commune = self.bodies.get(commune_id)
            if commune is None:
                continue
            commune.groups |= groupings
            for grouping in groupings:  # an EPCI lies in its communes' départements and régions
                if grouping in self.bodies:
                    around = {g for g in (commune.parent, *commune.groups) if g is not None}
                    self.bodies[grouping].groups |= around - groupings
        self._member_of.clear()
        resolved: dict[str, frozenset[str]] = {}
        for body in self.bodies.values():
            body.within = self._within(body.id, resolved, set())
            if body.siren:
                self._by_siren.setdefault(body.siren, body.id)
            for name in {body.name, *body.aliases}:
                ids = self._by_name.setdefault(name_key(name), [])
                if body.id not in ids:
                    ids.append(body.id)

    def _within(
        self, body_id: str, resolved: dict[str, frozenset[str]], visiting: set[str]
    ) -> frozenset[str]:
        """Itself, its groups, and what its parent lies within. Groups are not followed: a commune is in
        its EPCI, but not in the other départements of that EPCI's communes."""
        if body_id in resolved:
            return resolved[body_id]
        body = self.bodies.get(body_id)
        if body is None or body_id in visiting:  # a jurisdiction no file describes, or a parent loop
            return frozenset((body_id,))
        visiting.add(body_id)
        found = {body_id, *body.groups}
        if body.parent:
            found |= self._within(body.parent, resolved, visiting)
        resolved[body_id] = frozenset(found)
        return resolved[body_id]
