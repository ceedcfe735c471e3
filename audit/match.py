"""Which registry body a harvested publisher is.

In order, the first that answers:
1. an identifier: a SIREN (9 digits) or SIRET (14 digits, whose first 9 are the SIREN) in the publisher's
   `identifier` or in its URI (data.gouv.fr and annuaire-entreprises addresses carry them), checked with
   the Luhn key the INSEE gives them so that other numbers in a URI are not taken for one;
2. the name (`names.publisher_key`), also under its canonical name when the publisher alias table
   (`mappings/aliases/publishers.yaml`) lists it: one body of that name is the match; several are narrowed
   to the source's own jurisdiction if it is one of them, else to the bodies within or around it (a
   département's portal: its communes, the département, its région); still several, or none left, is
   reported as ambiguous with the candidates, never guessed;
3. a record without a publisher belongs to its source's jurisdiction (`sources.yaml`), when the registry
   has that body.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..mappings.publishers import default_aliases
from .names import publisher_key
from .registry import Body, Registry

_DIGITS = re.compile(r"(?<!\d)(\d{14}|\d{9})(?!\d)")


class Match(NamedTuple):
    body: str | None
    method: str  # "siren", "name" or "jurisdiction"; "" when not matched
    note: str = ""  # why not matched: no such name, ambiguous (with the candidates)


def luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def sirens(*texts: str | None) -> list[str]:
    """The SIRENs a publisher's identifier or URI carries ("215 903 501", "21590350100017", ".../215903501")."""
    found = []
    for text in texts:
        if not text:
            continue
        compact = re.sub(r"(?<=\d)[ .\u00a0\u202f](?=\d)", "", text)  # "215 903 501 00017"
        for number in _DIGITS.findall(compact):
            if luhn(number) and number[:9] not in found:
                found.append(number[:9])
    return found


class Matcher:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.aliases = default_aliases()

    def match(self, name: str, identifier: str, uri: str, jurisdiction: str | None) -> Match:
        """The body of a publisher (its name, identifier and URI as the record gives them, "" when absent)
        harvested from a source of this jurisdiction key ("commune:59350", or None)."""
        for siren in sirens(identifier, uri):
            body = self.registry.by_siren(siren)
            if body is not None:
                return Match(body.id, "siren")
        if not name.strip():
            if identifier or uri:
                return Match(None, "", f"identifier {identifier or uri} is no body's and there is no name")
            if jurisdiction and self.registry.get(jurisdiction):
                return Match(jurisdiction, "jurisdiction")
            return Match(None, "", "no publisher, and the source's jurisdiction is no registry body")
        names = [name, *filter(None, [self.aliases.canonical(name)])]
        candidates: list[Body] = []
        for spelling in names:
            candidates = self._named(spelling)
            if candidates:
                break
        if not candidates:
            return Match(None, "", "no body of that name")
        if len(candidates) > 1 and jurisdiction:
            candidates = self._around(candidates, jurisdiction)
        if len(candidates) == 1:
            return Match(candidates[0].id, "name")
        listed = ", ".join(sorted(b.id for b in candidates)[:5]) + (", …" if len(candidates) > 5 else "")
        where = f"within or around {jurisdiction}" if jurisdiction else "and the source has no jurisdiction"
        if not candidates:
            return Match(None, "", f"ambiguous: bodies of that name, none {where}")
        return Match(None, "", f"ambiguous: {len(candidates)} bodies of that name {where} ({listed})")

    def _named(self, name: str) -> list[Body]:
        key = publisher_key(name)
        found = self.registry.named(key.whole)
        if not found and key.rest:  # "Mairie de Lille": a commune named Lille
            found = [b for b in self.registry.named(key.rest) if b.kind == key.kind]
        return found

    def _around(self, candidates: list[Body], jurisdiction: str) -> list[Body]:
        """The source's own body if it is a candidate, else the candidates within or around its jurisdiction."""
        own = [b for b in candidates if b.id == jurisdiction]
        if own:
            return own
        source = self.registry.get(jurisdiction)
        above = source.within if source else frozenset()
        return [b for b in candidates if jurisdiction in b.within or b.id in above]
