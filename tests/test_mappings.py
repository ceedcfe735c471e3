"""The mappings are pure: each source type's mapping, given only a stored raw payload and what it may know of
its source, gives back the very dataset the harvest stored (what `fedcat remap` relies on)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import msgspec
import pytest
from conftest import CORPUS, MEDIA_TYPES
from fedcat.harvester.mapping import source_context
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.mappings.registry import MAPPINGS, mapping_for
from test_harvest_ckan import CkanApi, corpus_packages
from test_harvest_csw import listing
from test_harvest_opendatasoft import lille, serve
from test_harvest_udata import served

MAPPINGS_DIR = Path(__file__).resolve().parents[1] / "mappings"
ABOVE = ("harvester", "indexer", "store", "api", "audit", "demo", "cli")


def remapped_differences(store, config) -> tuple[int, list[str]]:
    """(records re-mapped, ids whose re-mapped dataset differs from the stored one)."""
    sources = {s.id: s for s in config.sources}
    count, differing = 0, []
    for record in store.iter_records():
        source = sources[record["source_id"]]
        payload, _ = store.raw(record["id"])
        stored = record["dataset"]
        again = mapping_for(source.type)(payload, stored.uri, source_context(source, config.settings), None)
        count += 1
        if unordered(again) != unordered(stored):
            differing.append(f"{record['id']}: {_first_difference(again, stored)}")
    return count, differing


def unordered(value):
    """A dataset's content with every list as a sorted list: the stored payload is in canonical order (sorted
    N-Triples, sorted JSON keys) while a harvest maps the page in document order, so only order may differ."""
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value)
    if isinstance(value, dict):
        return {k: unordered(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((unordered(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _first_difference(again, stored) -> str:
    for field in again.__struct_fields__:
        if unordered(getattr(again, field)) != unordered(getattr(stored, field)):
            return f"{field}: re-mapped {getattr(again, field)!r:.300} stored {getattr(stored, field)!r:.300}"
    return "same fields, different JSON"


def config_of(*sources: dict):
    return parse_config({"settings": {"http": {"retries": 0}}, "sources": list(sources)})


def test_every_source_type_has_one_mapping():
    from fedcat.harvester.adapters import ADAPTERS

    assert set(MAPPINGS) == set(ADAPTERS)
    with pytest.raises(KeyError, match="no mapping for source type 'nope'"):
        mapping_for("nope")


def test_stored_payloads_remap_to_the_stored_datasets(portal, catalogue):
    if not CORPUS.is_dir():
        pytest.skip(f"the recorded corpus is not available (expected at {CORPUS})")
    store, backend = catalogue
    ckan = CkanApi(portal, "/ckan", corpus_packages())
    udata = served(portal)
    serve(portal, lille(30))
    _, csw_url = listing(portal, 5)
    dcat_file = CORPUS / "dcat" / "opendata-swiss" / "catalog.xml"
    dcat_url = portal.add(
        "/catalog" + dcat_file.suffix, dcat_file.read_bytes(), MEDIA_TYPES[dcat_file.suffix]
    )
    datajson_file = CORPUS / "datajson" / "ckanext-datajson" / "collection-2-parent-4-children.data.json"
    datajson_url = portal.add("/data.json", datajson_file.read_bytes(), "application/json")
    config = config_of(
        {"id": "ckan", "name": "c", "type": "ckan", "url": ckan.root, "options": {"language": "fr"}},
        {"id": "udata", "name": "u", "type": "udata", "url": udata.root},
        {"id": "ods", "name": "o", "type": "opendatasoft", "url": portal.base_url},
        {
            "id": "csw",
            "name": "w",
            "type": "csw",
            "url": csw_url,
            "options": {"record_url": "https://geo.example/record/{id}", "language": "fr"},
        },
        {"id": "dcat", "name": "d", "type": "dcat", "url": dcat_url},
        {"id": "dj", "name": "j", "type": "datajson", "url": datajson_url},
    )
    results = harvest(config, store, backend)
    assert all(r.status == "complete" for r in results), [(r.source_id, r.message) for r in results]
    assert all(store.count(s.id) > 0 for s in config.sources), {
        s.id: store.count(s.id) for s in config.sources
    }
    count, differing = remapped_differences(store, config)
    assert count == store.count() and differing == []


def test_mappings_import_nothing_from_above():
    """mappings/ is the bottom layer: no module of it imports the harvester, the index, the store or the API."""
    offenders = []
    for path in sorted(MAPPINGS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2 and (node.module or "").startswith(ABOVE):
                offenders.append(f"{path.name}: from {'.' * node.level}{node.module}")
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                )
                offenders += [
                    f"{path.name}: {n}" for n in names if n.startswith(tuple(f"fedcat.{a}" for a in ABOVE))
                ]
    assert offenders == []
