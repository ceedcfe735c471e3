"""A reuse: an application, visualisation, article or API a portal lists as built on some of its datasets.

Pure, like every mapping: a platform's reuse object → `Reuse`. The kinds of reuse and their labels are data
(mappings/reuse-types.yaml). A reuse names the datasets it uses as its source knows them (the source's
dataset id and URI); the store links those to fedcat's records and, through the federation clusters, to
every copy of them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
import yaml

from .dates import normalise_date
from .values import as_list, stripped
from .vocabularies import TABLES


class ReusedDataset(msgspec.Struct, omit_defaults=True):
    """A dataset a reuse names: the source's own id of it, its URI and title as the source gives them."""

    id: str | None = None
    uri: str | None = None
    title: str | None = None


class Reuse(msgspec.Struct, omit_defaults=True):
    title: str
    type: str = "other"  # a code of reuse-types.yaml
    description: str | None = None
    url: str | None = None  # the reuse itself (the application, the article)
    page: str | None = None  # its page on the source portal
    image: str | None = None
    owner: str | None = None  # the person who listed it, when no organisation did
    organization: str | None = None
    topic: str | None = None
    tags: list[str] = []
    created: str | None = None
    modified: str | None = None
    datasets: list[ReusedDataset] = []


class ReuseError(ValueError):
    """A reuse object fedcat cannot use (no title): reported, the others go on."""


@cache
def reuse_types() -> dict[str, dict[str, str]]:
    """code -> {language: label}."""
    with (TABLES / "reuse-types.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)["types"]


def type_label(code: str, lang: str | tuple[str, ...] = "en") -> str:
    """The type's label in `lang` (one code, or codes in order of preference), else English."""
    labels = reuse_types().get(code) or reuse_types()["other"]
    for wanted in (lang,) if isinstance(lang, str) else lang:
        if found := labels.get(wanted):
            return found
    return labels["en"]


def reuse_to_json(reuse: Reuse) -> bytes:
    return msgspec.json.encode(reuse)


def reuse_from_json(data: bytes | str) -> Reuse:
    return msgspec.json.decode(data, type=Reuse)


def _iri(value: Any) -> str | None:
    text = stripped(value)
    return text if text and text.startswith(("http://", "https://")) else None


def _date(value: Any) -> str | None:
    text = stripped(value)
    return normalise_date(text) if text else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _type(value: Any) -> str:
    code = (stripped(value) or "").lower().replace("-", "_").replace(" ", "_")
    return code if code in reuse_types() else "other"


def map_udata_reuse(item: dict[str, Any], portal: str = "") -> Reuse:
    """One object of udata's /api/1/reuses/ (API v1); `portal` (its root) is not needed: udata gives
    each reuse's `page`."""
    title = stripped(item.get("title"))
    if not title:
        raise ReuseError("a reuse without a title")
    organization = _object(item.get("organization"))
    owner = _object(item.get("owner"))
    owner_name = " ".join(
        n for n in (stripped(owner.get("first_name")), stripped(owner.get("last_name"))) if n
    )
    datasets = []
    for ref in as_list(item.get("datasets")):
        if isinstance(ref, str):  # some udata versions list bare ids
            ref = {"id": ref}
        if not isinstance(ref, dict):
            continue
        found = ReusedDataset(
            id=stripped(ref.get("id")), uri=_iri(ref.get("uri")), title=stripped(ref.get("title"))
        )
        if found.id or found.uri:
            datasets.append(found)
    return Reuse(
        title=title,
        type=_type(item.get("type")),
        description=stripped(item.get("description")),
        url=_iri(item.get("url")),
        page=_iri(item.get("page")),
        image=_iri(item.get("image")),
        owner=owner_name or None,
        organization=stripped(organization.get("name")),
        topic=stripped(item.get("topic")),
        tags=list(
            dict.fromkeys(t.strip() for t in as_list(item.get("tags")) if isinstance(t, str) and t.strip())
        ),
        created=_date(item.get("created_at")),
        modified=_date(item.get("last_modified")) or _date(item.get("last_update")),
        datasets=datasets,
    )


def map_ckan_showcase(item: dict[str, Any], portal: str) -> Reuse:
    """One ckanext-showcase showcase (a package dict of type `showcase`), with the `datasets` the adapter
    read from ckanext_showcase_package_list; `portal` is the CKAN root its page is under."""
    title = stripped(item.get("title")) or stripped(item.get("name"))
    if not title:
        raise ReuseError("a showcase without a title or name")
    organization = _object(item.get("organization"))
    name = stripped(item.get("name"))
    return Reuse(
        title=title,
        type="other",  # showcases have no kind
        description=stripped(item.get("notes")),
        url=_iri(item.get("url")),
        page=f"{portal.rstrip('/')}/showcase/{name}" if name and _iri(portal) else None,
        image=_iri(item.get("image_display_url")) or _iri(item.get("image_url")),
        owner=stripped(item.get("author")),
        organization=stripped(organization.get("title")) or stripped(organization.get("name")),
        tags=list(
            dict.fromkeys(
                t["name"].strip()
                for t in as_list(item.get("tags"))
                if isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"].strip()
            )
        ),
        created=_date(item.get("metadata_created")),
        modified=_date(item.get("metadata_modified")),
        datasets=[
            ReusedDataset(id=stripped(d.get("id")), title=stripped(d.get("title")))
            for d in as_list(item.get("datasets"))
            if isinstance(d, dict) and stripped(d.get("id"))
        ],
    )


# source type -> the mapping of its reuse objects (the parsed JSON the adapter read, the source's URL)
REUSE_MAPPINGS = {"udata": map_udata_reuse, "ckan": map_ckan_showcase}
