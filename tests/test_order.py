"""A record maps the same at harvest and at re-map: its stored payload keeps the source's order.

A harvest maps a page's graph (or a JSON record as parsed), values in the source's order; a re-map (after a
mapping-version change, `fedcat remap`) maps the stored payload. Payloads used to be sorted (N-Triples
lines, JSON keys), so 406 corpus records came back from a re-map with their distributions, titles or
keywords in another order than the publisher's. Now the payload keeps the source's order and only the change
hash is computed over the sorted form: the same description in any order is no change, and a record stored
before keeps its hash (nothing is normalised again on upgrade).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import tostring

import msgspec
import pytest
import yaml
from conftest import CORPUS
from corpus_fidelity import READERS
from defusedxml.ElementTree import parse
from fedcat import cli
from fedcat.demo.portal import PortalServer
from fedcat.harvester.adapters.base import RawRecord
from fedcat.harvester.adapters.dcat import PageWorker, detect_format, read_page
from fedcat.harvester.adapters.jsonapi import canonical_json, json_record
from fedcat.mappings.context import SourceContext
from fedcat.mappings.model import dataset_to_json
from fedcat.mappings.registry import mapping_for
from fedcat.store import Store, pack_payload, payload_hash, record_id, unpack_payload
from pyoxigraph import RdfFormat

URI = "https://fedcat.example/datasets/corpus"
SOURCE = SourceContext("corpus", "https://portal.test", {}, lambda srid: f"{URI}/{srid}")
DCAT = "http://www.w3.org/ns/dcat#"
MEDIA = {".ttl": "text/turtle", ".nt": "application/n-triples", ".rdf": "application/rdf+xml"}
MEDIA |= {".xml": "application/rdf+xml", ".jsonld": "application/ld+json", ".json": "application/ld+json"}
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="../shared/corpus is absent: the check reads it"
)


def rdf_pages() -> Iterator[tuple[str, bytes, RdfFormat]]:
    """Every DCAT document of the corpus, and the DCAT and GeoDCAT-AP records CSW servers answer (each
    response's rdf:RDF elements): (name, content, format)."""
    for path in sorted((CORPUS / "dcat").rglob("*")):
        if path.suffix in MEDIA:
            content = path.read_bytes()
            yield (
                str(path.relative_to(CORPUS)),
                content,
                detect_format(content, MEDIA[path.suffix], str(path)),
            )
    for path in sorted((CORPUS / "csw").rglob("*.xml")):
        try:
            root = parse(path).getroot()
        except Exception:
            continue  # unreadable on purpose (kept as quirks)
        for n, element in enumerate(root.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF")):
            yield f"{path.relative_to(CORPUS)}#{n}", tostring(element), RdfFormat.RDF_XML


def harvested_records() -> Iterator[tuple[str, str, RawRecord]]:
    """(source type, where, record) of every corpus record, as the adapters make them."""
    for name, content, rdf_format in rdf_pages():
        try:
            page = read_page(content, rdf_format, "https://x.test/", "u", 1)
        except Exception:
            continue  # documents that do not parse (kept on purpose): the harvest reports them
        for record in page.records:
            yield "dcat", f"{name}#{record.source_record_id}", record
    for source_type in ("datajson", "ckan", "udata", "opendatasoft"):
        for where, _, item, _ in READERS[source_type]():
            yield source_type, where, json_record(where, item, "u", 1)
    for where, payload, element, _ in READERS["csw"]():
        yield "csw", where, RawRecord(where, payload, "application/xml", "u", 1, parsed=element)


def differences(a: bytes, b: bytes) -> list[str]:
    left, right = msgspec.json.decode(a), msgspec.json.decode(b)
    return [key for key in left if left[key] != right.get(key)]


@needs_corpus
def test_every_corpus_record_maps_the_same_at_harvest_and_at_remap():
    counts: dict[str, int] = {}
    differ: list[str] = []
    for source_type, where, record in harvested_records():
        mapping = mapping_for(source_type)
        try:
            harvested = dataset_to_json(mapping(record.payload, URI, SOURCE, record.parsed))
        except Exception:
            continue  # a record that fails to map is reported by the harvest
        remapped = dataset_to_json(mapping(record.payload, URI, SOURCE, None))
        counts[source_type] = counts.get(source_type, 0) + 1
        if harvested != remapped:
            differ.append(f"{where}: {differences(harvested, remapped)}")
    assert differ == [], f"{len(differ)} records differ, first ones:\n" + "\n".join(differ[:20])
    # every platform was looked at, with its real records (1,096 DCAT ones: the CSW outputs included)
    assert set(counts) == {"dcat", "datajson", "ckan", "udata", "opendatasoft", "csw"}, counts
    assert counts["dcat"] > 1000 and all(n > 10 for n in counts.values()), counts


@needs_corpus
def test_an_upgrade_normalises_no_corpus_record_again():
    """Every corpus record's change hash is the hash of the payload fedcat stored for it before payloads kept
    the source's order (sorted N-Triples lines; JSON keys sorted by `json.dumps`): the first harvest after an
    upgrade finds every record unchanged. (A data service's or series' payload ends with lines of their own
    after the sorted ones: left out here, `record_payload` keeps that form.)"""
    checked = 0
    for source_type, where, record in harvested_records():
        if source_type == "dcat":
            graph, node = record.parsed
            if {DCAT + "DataService", DCAT + "DatasetSeries"} & graph.types(node):
                continue
            before = b"".join(sorted(record.payload.splitlines(keepends=True)))
        elif source_type == "csw":
            before = record.payload  # already in its normal form: unchanged
        else:
            before = json.dumps(
                record.parsed, sort_keys=True, ensure_ascii=False, separators=(",", ":")
            ).encode()
        assert (record.digest or payload_hash(record.payload)) == payload_hash(before), where
        checked += 1
    assert checked > 1500


@needs_corpus
def test_the_parsing_process_maps_every_dcat_record_as_a_remap_does():
    """A large source's pages are parsed and mapped in a process of its own: what it sends (dataset JSON,
    hash, packed payload) is what the harvest stores; a re-map of that payload gives the same dataset."""
    mapping = mapping_for("dcat")
    worker = PageWorker.start("test")  # takes a spare-core slot, as the adapter does (given back on close)
    assert worker is not None
    checked = 0
    try:
        for name, content, rdf_format in rdf_pages():
            here = {r.source_record_id: r for r in _page_records(content, rdf_format)}
            worker.submit(content, rdf_format, "https://x.test/")
            status, value = worker.page()
            if status != "ok":
                assert not here, (name, status, value)
                continue
            for srid, _payload, _size, digest, packed, dataset_json in value[2]:
                if dataset_json is None:
                    continue  # failed to map there: mapped again here, with the same error
                stored = unpack_payload(packed)
                assert (stored, digest) == (here[srid].payload, here[srid].digest), f"{name}#{srid}"
                harvested = dataset_to_json(mapping(b"", URI, SOURCE, dataset_json))
                remapped = dataset_to_json(mapping(stored, URI, SOURCE, None))
                assert harvested == remapped, (f"{name}#{srid}", differences(harvested, remapped))
                checked += 1
    finally:
        worker.close()
    assert checked > 1000


def _page_records(content: bytes, rdf_format: RdfFormat) -> list[RawRecord]:
    try:
        return read_page(content, rdf_format, "https://x.test/", "u", 1).records
    except Exception:
        return []


# --- the payload and its hash ---------------------------------------------------------------------------

PAGE = """@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
<https://city.test/catalog> a dcat:Catalog ; dcat:dataset <https://city.test/d/1> .
<https://city.test/d/1> a dcat:Dataset ; dct:title "Parkings"@en, "Stationnements"@fr ;
  dcat:keyword "parking", "voiture", "accessibilité" ;
  dct:publisher [ a <http://xmlns.com/foaf/0.1/Agent> ; <http://xmlns.com/foaf/0.1/name> "Ville" ] ;
  dcat:distribution {distributions} .
<https://city.test/d/1/csv> a dcat:Distribution ; dct:title "CSV" ; dcat:downloadURL <https://city.test/p.csv> .
<https://city.test/d/1/json> a dcat:Distribution ; dct:title "JSON" ; dcat:accessURL <https://city.test/p.json> .
<https://city.test/d/1/geojson> a dcat:Distribution ; dct:title "GeoJSON" ; dcat:accessURL <https://city.test/p.geojson> .
"""
ORDERS = {  # the publisher's order of distributions, on two days
    "monday": "<https://city.test/d/1/json>, <https://city.test/d/1/csv>, <https://city.test/d/1/geojson>",
    "tuesday": "<https://city.test/d/1/geojson>, <https://city.test/d/1/json>, <https://city.test/d/1/csv>",
}


def page_record(order: str) -> RawRecord:
    page = read_page(PAGE.replace("{distributions}", ORDERS[order]).encode(), RdfFormat.TURTLE, "u:", "u", 1)
    [record] = page.records
    return record


def titles(payload: bytes, parsed: Any = None) -> list[str]:
    dataset = mapping_for("dcat")(payload, URI, SOURCE, parsed)
    return [d.title[0].value for d in dataset.distributions]


def sorted_lines(payload: bytes) -> bytes:
    """A payload as fedcat stored it before payloads kept the page's order."""
    return b"".join(sorted(payload.splitlines(keepends=True)))


def test_a_payload_keeps_the_page_order_and_hashes_the_same_in_any_order():
    monday, tuesday = page_record("monday"), page_record("tuesday")
    assert titles(monday.payload) == titles(monday.payload, monday.parsed) == ["JSON", "CSV", "GeoJSON"]
    assert titles(tuesday.payload) == titles(tuesday.payload, tuesday.parsed) == ["GeoJSON", "JSON", "CSV"]
    # the same description: no change, nothing normalised again (whichever order the page gives it in)
    assert monday.payload != tuesday.payload and monday.digest == tuesday.digest
    # a record stored before (its payload sorted) has the hash the harvest now computes: an upgrade
    # normalises nothing again; and such a payload stays readable
    assert monday.digest == payload_hash(sorted_lines(monday.payload))
    assert titles(sorted_lines(monday.payload)) == ["CSV", "GeoJSON", "JSON"]


def test_a_json_payload_keeps_the_source_key_order_and_hashes_the_same_in_any_order():
    item = {"id": "p", "title_translated": {"en": "Parkings", "fr": "Stationnements", "de": "Parkplätze"}}
    reordered = {"title_translated": dict(reversed(item["title_translated"].items())), "id": "p"}
    one, other = json_record("p", item, "u", 1), json_record("p", reordered, "u", 1)
    assert one.payload != other.payload and one.digest == other.digest
    # the payload stored before (its keys sorted): the same hash
    stored_before = json.dumps(item, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    assert one.digest == payload_hash(stored_before) == payload_hash(canonical_json(reordered))
    mapping = mapping_for("ckan")
    assert [t.lang for t in mapping(one.payload, URI, SOURCE, None).title] == ["en", "fr", "de"]
    assert mapping(one.payload, URI, SOURCE, None) == mapping(one.payload, URI, SOURCE, item)


def test_a_remap_of_a_record_stored_sorted_keeps_the_publisher_order(tmp_path: Path):
    """A record stored before payloads kept the page's order: its harvest's dataset (the publisher's order)
    stays as it is when a re-map finds the same values in the sorted payload's order; its mapping version
    is brought up to date, and nothing goes through the change feed."""
    with PortalServer() as portal:
        portal.add("/catalog.ttl", PAGE.replace("{distributions}", ORDERS["monday"]))
        config = tmp_path / "sources.yaml"
        source = {"id": "ville", "name": "Ville", "type": "dcat", "url": portal.url("/catalog.ttl")}
        settings = {"base_url": "https://fedcat.example"}
        config.write_text(yaml.safe_dump({"settings": settings, "sources": [source]}))
        common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
        assert cli.main(["harvest", *common]) == 0
    fedcat_id = record_id("ville", "https://city.test/d/1")
    with sqlite3.connect(tmp_path / "data" / "fedcat.db") as db:  # what an older fedcat left
        [(packed,)] = db.execute("SELECT raw FROM record_data WHERE id = ?", (fedcat_id,))
        db.execute(
            "UPDATE record_data SET raw = ? WHERE id = ?",
            (pack_payload(sorted_lines(unpack_payload(packed))), fedcat_id),
        )
        db.execute("UPDATE records SET mapping_version = 'old' WHERE id = ?", (fedcat_id,))
        [(head,)] = db.execute("SELECT max(seq) FROM changes")
    assert cli.main(["remap", *common]) == 0
    store = Store(tmp_path / "data" / "fedcat.db")
    try:
        record = store.record(fedcat_id)
        assert record is not None
        assert [d.title[0].value for d in record["dataset"].distributions] == ["JSON", "CSV", "GeoJSON"]
        [(version, position)] = store.db.execute(
            "SELECT mapping_version, (SELECT max(seq) FROM changes) FROM records WHERE id = ?",
            (fedcat_id,),
        )
        assert version != "old" and position == head
    finally:
        store.close()
