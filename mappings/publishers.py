"""Publisher names: one name per real body in the search facet and the quality reports.

Sources spell one body many ways ("Ville de Lille", "Mairie de Lille", "VILLE DE LILLE", "Lille"). The
record keeps what its source said (`Dataset.publisher.name`); what the index shows is resolved here:

1. the alias table (`aliases/publishers.yaml`, canonical name -> aliases, edited by hand) names the body,
   whichever source the name comes from: it is the only rule that merges names across sources;
2. otherwise, within one source, names with the same `publisher_key` (case, accents and punctuation
   folded, "Mairie de", "Ville de", "Commune de", "Hôtel de ville de" dropped) are one body, shown under
   the spelling that source uses most (ties: not all capitals, then accented, then the longer one).
   Not across sources: two portals' "Saint-Denis" may be two different communes.

A name's display therefore depends on the other names of its source: `PublisherNames` is built from the
(source, name, record count) triples of the whole store, and the indexer re-indexes the records whose
display changed (`indexer.derived`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import yaml

from .vocabularies import fold

ALIASES = Path(__file__).parent / "aliases" / "publishers.yaml"
# On folded names: the municipal prefixes that name the commune itself.
_MUNICIPAL = re.compile(
    r"^(?:mairie|ville|commune|hotel de ville|la ville|la commune)\s+(de|d|du|des)\s+(.+)$"
)
_ARTICLE = {"du": "le ", "des": "les "}  # "Ville du Havre" is "Le Havre"


def publisher_key(name: str) -> str:
    """The key under which one source's spellings of a body meet ("Mairie de Lille" -> "lille")."""
    key = fold(name)
    match = _MUNICIPAL.match(key)
    return _ARTICLE.get(match.group(1), "") + match.group(2) if match else key


class AliasTable:
    """canonical name -> aliases; looked up case-, accent- and punctuation-insensitively."""

    def __init__(self, entries: dict[str, list[str]] | None = None) -> None:
        self._canonical: dict[str, str] = {}
        for canonical, aliases in (entries or {}).items():
            for name in (canonical, *(aliases or ())):
                key = fold(str(name))
                owner = self._canonical.setdefault(key, canonical)
                if owner != canonical:
                    raise ValueError(
                        f"publisher alias {name!r} is listed under both {owner!r} and {canonical!r}"
                    )

    @classmethod
    def load(cls, path: Path = ALIASES) -> AliasTable:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        return cls(data.get("publishers") or {})

    def canonical(self, name: str) -> str | None:
        return self._canonical.get(fold(name))

    def __len__(self) -> int:
        return len(self._canonical)


@cache
def default_aliases() -> AliasTable:
    return AliasTable.load()


def _preference(name: str, count: int) -> tuple:
    """Sort key of a spelling, best first: most used, not shouted, accented, more explicit."""
    letters = [c for c in name if c.isalpha()]
    shouted = bool(letters) and all(c.isupper() for c in letters)
    accented = sum(1 for c in name if not c.isascii())
    return (-count, shouted, -accented, -len(name), name)


class PublisherNames:
    """Resolve (source, publisher name) to the name the index shows; see the module docstring."""

    def __init__(self, counts: Iterable[tuple[str, str, int]], aliases: AliasTable | None = None) -> None:
        self.aliases = aliases if aliases is not None else default_aliases()
        groups: dict[tuple[str, str], dict[str, int]] = {}
        for source_id, name, count in counts:
            name = name.strip()
            if name:
                spellings = groups.setdefault((source_id, publisher_key(name)), {})
                spellings[name] = spellings.get(name, 0) + count
        self._names: dict[tuple[str, str], str] = {}
        for (source_id, _key), spellings in groups.items():
            ranked = sorted(spellings, key=lambda s: _preference(s, spellings[s]))
            # one aliased spelling names the whole group: the source says they are one body
            canonical = next((c for s in ranked if (c := self.aliases.canonical(s))), ranked[0])
            for spelling in spellings:
                self._names[(source_id, spelling)] = canonical

    @classmethod
    def from_mapping(
        cls, mapping: dict[tuple[str, str], str], aliases: AliasTable | None = None
    ) -> PublisherNames:
        """Names resolved earlier (`mapping()`), without recounting."""
        names = cls((), aliases)
        names._names = dict(mapping)
        return names

    def resolve(self, source_id: str, name: str) -> str:
        """The display name; a name the counts did not include gets the alias table and trimming only."""
        name = name.strip()
        if not name:
            return ""
        found = self._names.get((source_id, name))
        if found is not None:
            return found
        return self.aliases.canonical(name) or name

    def mapping(self) -> dict[tuple[str, str], str]:
        """(source id, spelling) -> display name, for every counted spelling."""
        return dict(self._names)
