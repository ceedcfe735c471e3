"""What every mapping's dataset goes through last, whatever its source type: the rules that hold for a class
of values rather than for one platform's field.

- a licence the source states for the dataset is the licence of its distributions that state none;
- a licence named only by text (no known licence, no IRI) is kept as that text, on the dataset and on the
  distributions that name no licence of their own, and cleared where a licence IRI is known;
- a distribution without a format gets the one its download URL names (extension or `format=` parameter);
- a description written in HTML gets its plain-text form beside it (`description_text`); a title, keyword,
  agent name or distribution title, which are never markup, is read as plain text (tags and entities decoded:
  the raw record keeps what the portal wrote);
- an INSPIRE theme brings the EU data themes it falls under (`inspire-eu-themes.yaml`), kept beside it;
- a date that is a zero value of some system (the Unix epoch "1970-01-01T00:00:00", "1900-01-01") says the
  portal had no date: it is dropped from issued / modified and noted under `unmapped`;
- a contact or agent "name" that is a bare UUID is a user id (HDX's maintainer), not a name: it is dropped
  (the contact keeps its e-mail);
- no empty struct: a location, period, agent or contact point that says nothing (a blank `dct:Location`, a
  publisher dict of empty strings) is dropped, not kept as `{}` for pages and RDF to show as nothing.
"""

from __future__ import annotations

import re
from functools import cache

import yaml

from .model import Agent, ContactPoint, Dataset, Distribution, Location, PeriodOfTime, Text
from .normalise import url_format
from .text import has_markup, one_line, plain_text
from .vocabularies import TABLES

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
# midnight of the zero dates of Unix, SQL Server / Excel: what a portal writes when it has no date
_ZERO_DATES = ("1970-01-01", "1900-01-01")
_MIDNIGHT = ("", "T00:00:00", "T00:00:00Z")
_INSPIRE, _EU_THEME = (
    "inspire.ec.europa.eu/theme/",
    "http://publications.europa.eu/resource/authority/data-theme/",
)


@cache
def inspire_eu_themes() -> dict[str, tuple[str, ...]]:
    """INSPIRE theme code -> the EU data theme IRIs it falls under."""
    with (TABLES / "inspire-eu-themes.yaml").open(encoding="utf-8") as fh:
        table = yaml.safe_load(fh)["themes"]
    return {code: tuple(_EU_THEME + eu for eu in themes) for code, themes in table.items()}


def _with_eu_themes(themes: list[str]) -> list[str]:
    extra = [
        eu
        for theme in themes
        if _INSPIRE in theme
        for eu in inspire_eu_themes().get(theme.rstrip("/").rsplit("/", 1)[-1].lower(), ())
    ]
    return list(dict.fromkeys([*themes, *extra])) if extra else themes


_EMPTY_LOCATION, _EMPTY_PERIOD, _EMPTY_AGENT, _EMPTY_CONTACT = (
    Location(),
    PeriodOfTime(),
    Agent(),
    ContactPoint(),
)


def _drop_ids_as_names(dataset: Dataset) -> None:
    for contact in dataset.contact_points:
        if contact.name and _UUID.match(contact.name.strip()):
            contact.name = None
    for agent in (dataset.publisher, dataset.creator, dataset.rights_holder):
        if agent is not None and any(_UUID.match(t.value.strip()) for t in agent.name):
            agent.name = [t for t in agent.name if not _UUID.match(t.value.strip())]


def _drop_empty(dataset: Dataset) -> None:
    if any(loc == _EMPTY_LOCATION for loc in dataset.spatial):
        dataset.spatial = [loc for loc in dataset.spatial if loc != _EMPTY_LOCATION]
    if any(span == _EMPTY_PERIOD for span in dataset.temporal):
        dataset.temporal = [span for span in dataset.temporal if span != _EMPTY_PERIOD]
    if any(c == _EMPTY_CONTACT for c in dataset.contact_points):
        dataset.contact_points = [c for c in dataset.contact_points if c != _EMPTY_CONTACT]
    for role in ("publisher", "creator", "rights_holder"):
        if getattr(dataset, role) == _EMPTY_AGENT:
            setattr(dataset, role, None)
    if any(a.agent == _EMPTY_AGENT for a in dataset.qualified_attribution):
        dataset.qualified_attribution = [a for a in dataset.qualified_attribution if a.agent != _EMPTY_AGENT]


def _plain(texts: list[Text]) -> list[Text]:
    if not any(has_markup(t.value) for t in texts):
        return texts
    cleaned = [Text(one_line(t.value), t.lang) for t in texts]
    return [t for i, t in enumerate(cleaned) if t.value and t not in cleaned[:i]]


def _plain_texts(dataset: Dataset) -> None:
    dataset.title = _plain(dataset.title)
    dataset.keywords = _plain(dataset.keywords)
    for agent in (dataset.publisher, dataset.creator, dataset.rights_holder):
        if agent is not None:
            agent.name = _plain(agent.name)
    for dist in dataset.distributions:
        dist.title = _plain(dist.title)


def _is_zero_date(value: str | None) -> bool:
    return value is not None and value[:10] in _ZERO_DATES and value[10:] in _MIDNIGHT


def _drop_zero_dates(dataset: Dataset) -> None:
    holders: list[Dataset | Distribution] = [dataset, *dataset.distributions]
    for holder in holders:
        for name in ("issued", "modified"):
            value = getattr(holder, name)
            if _is_zero_date(value):
                setattr(holder, name, None)
                noted = dataset.unmapped.setdefault(name, [])
                noted.extend([value] if value not in noted else [])


def finish(dataset: Dataset) -> Dataset:
    _drop_ids_as_names(dataset)
    _drop_empty(dataset)
    _plain_texts(dataset)
    _drop_zero_dates(dataset)
    if dataset.licence:
        dataset.licence_text = None
    elif dataset.licence_text:
        dataset.licence_text = plain_text(dataset.licence_text)
    for dist in dataset.distributions:
        if not dist.licence and not dist.licence_text and dataset.licence:
            dist.licence = dataset.licence  # said of the dataset: the licence of each of its distributions
        if dist.licence:
            dist.licence_text = None
        elif dist.licence_text:
            dist.licence_text = plain_text(dist.licence_text)
        elif dataset.licence_text and not dataset.licence:
            dist.licence_text = dataset.licence_text
        if not dist.format:
            dist.format = next((f for url in dist.download_url if (f := url_format(url))), None)
    if not dataset.licence and not dataset.licence_text:
        texts = {d.licence_text for d in dataset.distributions if d.licence_text}
        if len(texts) == 1 and all(d.licence_text or d.licence for d in dataset.distributions):
            dataset.licence_text = texts.pop()
    dataset.themes = _with_eu_themes(dataset.themes)
    if any(has_markup(t.value) for t in dataset.description):
        dataset.description_text = [Text(plain_text(t.value), t.lang) for t in dataset.description]
    return dataset
