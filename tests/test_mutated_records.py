"""A value of another JSON type where a record's schema expects one (a number where a list belongs, a list
where a text belongs, a lone text where a list of texts belongs) must cost that value, never the record:
before, such a record raised in its mapping and was not harvested at all (or a lone text was read
character by character). The hand-made cases name each class; the sweep mutates real corpus records of
every JSON platform with a fixed seed, so a failure names a reproducible record, path and value.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import CORPUS
from fedcat.mappings.context import SourceContext
from fedcat.mappings.registry import mapping_for
from fedcat.mappings.reuse import ReuseError, map_udata_reuse
from test_harvest_opendatasoft import corpus_datasets as opendatasoft_corpus

SOURCE = SourceContext(id="s", url="https://portal.example")
URI = "https://fedcat.example/datasets/x"


def mapped(source_type: str, record: dict[str, Any]):
    return mapping_for(source_type)(json.dumps(record).encode(), URI, SOURCE, None)


def test_ckan_extras_and_contacts_that_are_not_lists():
    package = {
        "id": "p1",
        "name": "velos",
        "title": "Comptages vélos",
        "extras": 1.5,
        "contact_points": "mairie@example.fr",
        "tags": "vélo",
        "temporal_coverage": {"start": "2020-01-01", "end": "2020-12-31"},
        "resources": [{"id": "r1", "url": "https://portal.example/v.csv", "format": "CSV"}],
    }
    dataset = mapped("ckan", package)
    assert dataset.title[0].value == "Comptages vélos"
    assert [k.value for k in dataset.keywords] == ["vélo"]  # one keyword, not four letters
    assert [d.access_url for d in dataset.distributions] == [["https://portal.example/v.csv"]]


def test_udata_contacts_and_harvest_ids_of_another_type():
    item = {
        "id": "u1",
        "title": "Budget",
        "contact_points": -1,
        "harvest": {"remote_id": ["a", "b"], "dct_identifier": {"x": 1}},
        "resources": [],
    }
    dataset = mapped("udata", item)
    assert dataset.title[0].value == "Budget"
    assert dataset.identifier == ["u1"] and dataset.other_identifier == []


def test_opendatasoft_media_types_that_are_not_texts_are_reported():
    record = {
        "dataset_id": "arbres",
        "metas": {"default": {"title": "Arbres", "keyword": ["arbre"]}},
        "attachments": [{"id": "a1", "title": "arbres.pdf", "mimetype": 1.5}],
        "alternative_exports": [{"id": "e1", "title": "export", "mimetype": ["x"]}],
        "fields": [],
    }
    dataset = mapped("opendatasoft", record)
    assert dataset.title[0].value == "Arbres"
    assert "1.5" in dataset.unmapped.get("media_type", [])


def test_a_reuse_with_tags_as_one_text():
    reuse = map_udata_reuse(
        {"id": "r1", "title": "Carte", "url": "https://carte.example", "tags": "transport", "datasets": "d1"},
        "https://www.data.gouv.fr",
    )
    assert reuse.tags == ["transport"]


# --- the sweep ------------------------------------------------------------------------------------------

VALUES: list[Any] = [None, 0, -1, 1.5, True, "", "x", "2020-13-45", [], {}, ["x"], {"a": "b"}, [{"x": 1}],
                     [None], "<b>h</b>", "x" * 5000, {"@id": "x"}, [[1]], 1e308]  # fmt: skip
MUTATIONS = 300  # per platform, 1 to 4 values replaced in each


def _records() -> Iterator[tuple[str, dict[str, Any]]]:
    for name in ("udata-fixtures-results-2025-02.json", "udata-fixtures-results-2021.json"):
        for item in json.loads((CORPUS / "udata" / name).read_text()):
            dataset = {**item["dataset"], "resources": item.get("resources") or []}
            dataset["organization"] = item.get("organization")
            yield "udata", dataset
            for reuse in item.get("reuses") or []:
                yield "reuse", reuse
    for path in sorted((CORPUS / "ckan").rglob("*.json")):
        body = json.loads(path.read_bytes())
        body = body.get("result", body) if isinstance(body, dict) else body
        body = body.get("results", body) if isinstance(body, dict) else body
        for package in body if isinstance(body, list) else [body]:
            if isinstance(package, dict) and isinstance(package.get("id"), str) and "title" in package:
                yield "ckan", package
    for path in sorted((CORPUS / "datajson").rglob("*.json")):
        body = json.loads(path.read_bytes())
        for entry in body.get("dataset", []) if isinstance(body, dict) else []:
            yield "datajson", entry
    for entry in opendatasoft_corpus():  # the v2.1 shape the adapter hands to the mapping
        yield "opendatasoft", entry


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value[:3]):
            yield from _paths(inner, (*path, index))


def _replace(record: Any, path: tuple, value: Any) -> Any:
    record = copy.deepcopy(record)
    holder = record
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return record


@pytest.mark.parametrize("platform", ["ckan", "datajson", "opendatasoft", "udata", "reuse"])
def test_mutated_corpus_records_still_map(platform):
    if not CORPUS.is_dir():
        pytest.skip(f"the recorded corpus is not available (expected at {CORPUS})")
    records = [r for p, r in _records() if p == platform and list(_paths(r))[1:]]
    assert records, f"no {platform} record found in the corpus"
    rng = random.Random(f"mutations-{platform}")
    failures = []
    for _ in range(MUTATIONS):
        record, changes = rng.choice(records), []
        for _ in range(rng.randint(1, 4)):
            # the record id is checked by the adapters before any mapping sees the record
            paths = [p for p in list(_paths(record))[1:] if p != ("id",)]
            change = (rng.choice(paths), rng.choice(VALUES))
            record = _replace(record, *change)
            changes.append(change)
        try:
            if platform == "reuse":
                map_udata_reuse(record, "https://www.data.gouv.fr")
            else:
                mapped(platform, record)
        except ReuseError:
            pass  # a reuse without a title or link: the one refusal the reuse mapping documents
        except Exception as error:
            failures.append(f"{changes}: {type(error).__name__}: {error}")
    assert not failures, f"{len(failures)} mutated {platform} records failed, first: {failures[:3]}"


@pytest.mark.parametrize(
    "source_type, record",
    [
        (
            "udata",
            {"id": "u", "title": "t", "resources": [{"id": "r", "url": "http://[invalid", "title": "f"}]},
        ),
        ("datajson", {"identifier": "d", "title": "t", "distribution": [{"downloadURL": "http://[x/f.csv"}]}),
        ("ckan", {"id": "c", "title": "t", "resources": [{"url": "//[x/f.csv"}, {"url": "/files/f.csv"}]}),
    ],
)
def test_a_malformed_link_costs_that_link_not_the_record(source_type, record):
    """An unclosed IPv6 bracket makes Python's URL parser raise: the record was lost; the link is kept as
    the source wrote it (what a reader can still copy), and nothing is guessed from it."""
    dataset = mapped(source_type, record)
    assert dataset.title[0].value == "t"
    assert all(d.format is None for d in dataset.distributions if "[" in str(d.access_url))
