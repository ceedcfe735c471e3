"""What every mapping's dataset goes through last, whatever its source type: the rules that hold for a class
of values rather than for one platform's field.

- a licence the source states for the dataset is the licence of its distributions that state none;
- a licence named only by text (no known licence, no IRI) is kept as that text, on the dataset and on the
  distributions that name no licence of their own, and cleared where a licence IRI is known;
- a distribution without a format gets the one its download URL names (extension or `format=` parameter);
- a description written in HTML gets its plain-text form beside it (`description_text`);
- an INSPIRE theme brings the EU data themes it falls under (`inspire-eu-themes.yaml`), kept beside it;
- no empty struct: a location, period, agent or contact point that says nothing (a blank `dct:Location`, a
  publisher dict of empty strings) is dropped, not kept as `{}` for pages and RDF to show as nothing.
"""

from __future__ import annotations

from functools import cache

import yaml

from .model import Agent, ContactPoint, Dataset, Location, PeriodOfTime, Text
from .normalise import url_format
from .text import has_markup, plain_text
from .vocabularies import TABLES

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


def finish(dataset: Dataset) -> Dataset:
    _drop_empty(dataset)
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
