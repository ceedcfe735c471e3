"""Records shaped as real portals write them when nobody checks: each case is a class of value fedcat once
lost or showed as garbage (markup in titles, keys in another case, links given as paths, placeholder dates,
lists written as text, codes in camelCase, CSW records without fileIdentifier). The JSON platforms are
served over real HTTP on 127.0.0.1 and harvested; what a user reads (the search API, the stored dataset)
is checked. Corpus cases read `../shared/corpus` and skip, saying so, where it is absent."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.demo.portal import Reply
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.mappings.context import SourceContext
from fedcat.mappings.registry import mapping_for
from fedcat.store import record_id
from test_fidelity import from_json
from test_harvest_ckan import CkanApi
from test_harvest_csw import Listing
from test_harvest_udata import UdataApi

EU = "http://publications.europa.eu/resource/authority/"


def corpus_file(relative: str) -> Path:
    path = CORPUS / relative
    if not path.is_file():
        pytest.skip(f"the recorded corpus is not available (expected {path})")
    return path


def config_of(source_id: str, source_type: str, url: str, **options: Any):
    source = {"id": source_id, "name": source_id, "type": source_type, "url": url, "options": options}
    return parse_config({"settings": {"http": {"retries": 0}}, "sources": [source]})


def stored(store, source_id: str, source_record_id: str):
    record = store.record(record_id(source_id, source_record_id))
    assert record is not None, f"{source_record_id} was not stored"
    return record["dataset"]


# --- CKAN, harvested and searched ------------------------------------------------------------------------

CARELESS_PACKAGE = {
    "id": "careless-1",
    "name": "qualite-air",
    "title": "Qualit&eacute; de l&#39;air <b>2024</b>",
    "notes": "Mesures horaires",
    "tags": [{"name": "pollution &amp; santé"}],
    "groups": None,
    "organization": None,
    "license_id": "odc-odbl",
    "metadata_created": "2024-01-03T10:00:00.000000",
    "metadata_modified": "2024-02-05T10:00:00.000000",
    # keys as some portals spell them: the spatial and temporal extras ckanext-spatial reads
    "extras": [
        {"key": "Spatial", "value": '{"type": "Point", "coordinates": [3.06, 50.63]}'},
        {"key": "Temporal_Coverage-From ", "value": "2020-01-01"},
        {"key": "frequency", "value": "asNeeded"},
    ],
    "resources": [
        # an uploaded file: CKAN gives its path on the portal
        {
            "url": "/dataset/qualite-air/resource/r1/download/mesures 2024.csv",
            "format": "CSV",
            "name": "Mesures",
        },
        # the Unix epoch: a portal with no date for the resource
        {"url": "https://files.example.org/a.json", "format": "JSON", "created": "1970-01-01T00:00:00"},
    ],
}


def test_a_careless_ckan_package_reads_as_its_portal_meant(portal, catalogue):
    store, backend = catalogue
    api = CkanApi(portal, "/ckan", [copy.deepcopy(CARELESS_PACKAGE)])
    [result] = harvest(config_of("ckan", "ckan", api.root), store, backend)
    assert result.status == "complete", result.message
    dataset = stored(store, "ckan", "careless-1")
    assert [t.value for t in dataset.title] == ["Qualité de l'air 2024"]
    assert [t.value for t in dataset.keywords] == ["pollution & santé"]
    # the mixed-case extras are read: the place and the period arrive
    assert [loc.geometry for loc in dataset.spatial] == ["POINT(3.06 50.63)"]
    assert [(p.start, p.end) for p in dataset.temporal] == [("2020-01-01", None)]
    assert dataset.accrual_periodicity == f"{EU}frequency/AS_NEEDED"
    # the uploaded file's path is a link on the portal, as CKAN's own pages show it
    first, second = dataset.distributions
    assert first.access_url == [portal.url("/dataset/qualite-air/resource/r1/download/mesures 2024.csv")]
    assert first.format == f"{EU}file-type/CSV"
    assert second.issued is None and dataset.unmapped["issued"] == ["1970-01-01T00:00:00"]

    client = TestClient(create_app(store, backend, config_of("ckan", "ckan", api.root)))
    [hit] = client.get("/api/datasets", params={"q": "qualite"}).json()["items"]
    assert hit["title"] == "Qualité de l'air 2024"
    ttl = client.get(f"/datasets/{hit['id']}.ttl").text
    assert "Qualité de l'air 2024" in ttl and "&eacute;" not in ttl and "<b>" not in ttl
    assert "mesures%202024.csv" in ttl  # the link as a valid IRI


def test_legacy_ckanext_dcat_resources_keep_their_services_and_languages():
    """ckanext-dcat's legacy profile stores a resource's lists as JSON text: its access services (a DCAT-AP
    3.0 property) and languages arrive as values, not as a language named '["en","ca","es"]'."""
    for name in ("ckan_full_dataset_dcat_ap_legacy.json", "ckan_full_dataset_dcat_ap.json"):
        package = json.loads(corpus_file(f"ckan/ckanext-dcat-examples/{name}").read_text())
        package.setdefault("id", package["name"])
        [resource] = package["resources"]
        [dist] = from_json("ckan", package).distributions
        services = resource["access_services"]
        [given] = json.loads(services) if isinstance(services, str) else services
        [service] = dist.access_service
        assert [t.value for t in service.title] == [given["title"]]
        assert service.endpoint_url == given["endpoint_url"]
        assert service.endpoint_description == [given["endpoint_description"]]
        assert service.serves_dataset == given["serves_dataset"]
        assert dist.language == [f"{EU}language/{code}" for code in ("ENG", "CAT", "SPA")]


def test_opendata_swiss_access_services_named_by_iri():
    document = json.loads(corpus_file("ckan/opendata-swiss-ckan-dataset.json").read_text())
    package = document.get("result", document)
    given = [r.get("access_services") or [] for r in package["resources"]]
    dataset = from_json("ckan", package)
    assert [[s.uri for s in d.access_service] for d in dataset.distributions] == given
    assert any(given)


@pytest.mark.parametrize(
    ("relative", "code"),
    [
        ("ckan/ckanext-dcat-examples/full_ckan_dataset_legacy.json", "NOT_PLANNED"),  # "notPlanned"
        ("ckan/udata-dkan-french-w-license.json", "AS_NEEDED"),  # "asNeeded"
    ],
)
def test_camel_case_frequency_codes(relative, code):
    document = json.loads(corpus_file(relative).read_text())
    results = document.get("result", document)
    packages = results.get("results", [results]) if isinstance(results, dict) else results
    frequencies = set()
    for package in packages:
        package.setdefault("id", package.get("name"))
        dataset = from_json("ckan", package)
        frequencies.add(dataset.accrual_periodicity)
        assert "frequency" not in dataset.unmapped
    assert f"{EU}frequency/{code}" in frequencies


def test_hdx_country_groups_are_places_not_themes():
    """HDX groups its datasets by country: "Libya" is where the data is about (dct:spatial, the EU country
    IRI), not an unknown theme."""
    document = json.loads(corpus_file("ckan/hdx/package_search-result.from-yaml.json").read_text())
    packages = document["results"]
    checked = 0
    for package in packages:
        dataset = from_json("ckan", package)
        for group in package.get("groups") or ():
            place = next(p for p in dataset.spatial if [t.value for t in p.label] == [group["title"]])
            assert place.uri == f"{EU}country/{group['name'].upper()}"
            assert group["title"] not in dataset.unmapped.get("theme", [])
            checked += 1
    assert checked


# --- udata and data.json ---------------------------------------------------------------------------------


def test_udata_resource_given_as_a_path_on_the_portal(portal, catalogue):
    store, backend = catalogue
    dataset = {
        "id": "5ff5e6e99724cb8fff59a5be",
        "title": "Budget &laquo;primitif&raquo;",
        "description": "Budget",
        "tags": None,
        "license": "lov2",
        "created_at": "2020-01-01T00:00:00",
        "last_update": "1970-01-01T00:00:00+00:00",
        "resources": [
            {"id": "r1", "title": "Fichier &amp; annexes", "url": "/fr/datasets/r/r1", "format": "csv"}
        ],
    }
    api = UdataApi(portal, "/udata", [dataset])
    [result] = harvest(config_of("udata", "udata", api.root), store, backend)
    assert result.status == "complete", result.message
    found = stored(store, "udata", dataset["id"])
    assert [t.value for t in found.title] == ["Budget «primitif»"]
    [dist] = found.distributions
    assert [t.value for t in dist.title] == ["Fichier & annexes"]
    assert dist.download_url == [portal.url("/fr/datasets/r/r1")]
    assert found.modified is None and found.unmapped["modified"] == ["1970-01-01T00:00:00Z"]


def test_a_text_cut_in_the_middle_of_an_emoji_costs_that_character_not_the_page(portal, catalogue):
    """Portals that cut descriptions in UTF-16 leave half an escaped emoji ("\\ud83d" alone): valid JSON,
    but no UTF-8 can hold it. The page was lost (the payload could not be encoded); now the half is
    U+FFFD and every dataset of the page arrives."""
    store, backend = catalogue
    cut = {"id": "cut-1", "title": "Pistes cyclables \U0001f6b2", "description": "Tracé des pistes \ud83d"}
    whole = {"id": "whole-1", "title": "Stationnement", "description": "Places"}
    api = UdataApi(portal, "/udata-cut", [cut, whole])  # sent by json.dumps: the half as its escape
    [result] = harvest(config_of("udata", "udata", api.root), store, backend)
    assert result.status == "complete", result.message
    assert result.counts["created"] == 2
    found = stored(store, "udata", "cut-1")
    assert [t.value for t in found.title] == ["Pistes cyclables \U0001f6b2"]  # a whole pair stays whole
    assert [t.value for t in found.description] == ["Tracé des pistes \ufffd"]


def test_data_json_links_beside_the_catalogue_and_keywords_as_text(portal, catalogue):
    store, backend = catalogue
    document = {
        "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
        "dataset": [
            {
                "identifier": "roads-1",
                "title": "Roads &amp; bridges",
                "description": "Road network",
                "keyword": "roads, bridges; transport",
                "modified": "2024-05-01",
                "publisher": {"name": "City"},
                "distribution": [
                    {"downloadURL": "/files/roads.csv", "mediaType": "text/csv"},
                    {"downloadURL": "hhttps://typo.example.org/roads.zip"},
                ],
            }
        ],
    }
    url = portal.add("/open/data.json", json.dumps(document), "application/json")
    [result] = harvest(config_of("dj", "datajson", url), store, backend)
    assert result.status == "complete", result.message
    found = stored(store, "dj", "roads-1")
    assert [t.value for t in found.title] == ["Roads & bridges"]
    assert [k.value for k in found.keywords] == ["roads", "bridges", "transport"]
    first, _ = found.distributions
    assert first.download_url == [portal.url("/files/roads.csv")]
    assert found.unmapped["distribution_url"] == ["hhttps://typo.example.org/roads.zip"]


# --- Opendatasoft ------------------------------------------------------------------------------------------


def test_opendatasoft_keywords_written_as_one_text_are_trimmed():
    item = {
        "dataset_id": "velos",
        "metas": {"default": {"title": "Vélos", "keyword": "vélo, mobilité ;  transport"}},
    }
    assert [k.value for k in from_json("opendatasoft", item).keywords] == ["vélo", "mobilité", "transport"]


# --- CSW / ISO 19139 -------------------------------------------------------------------------------------


def test_csw_records_without_file_identifier_are_kept_under_their_citation_identifier(portal, catalogue):
    """A server that leaves out gmd:fileIdentifier: each record is still harvested, keyed by its resource
    identifier, and is the same record on the next run."""
    store, backend = catalogue
    page = corpus_file("csw/udata-csw/geonetwork-iso19139-page-1.xml").read_text(encoding="utf-8")
    stripped = re.sub(r"<gmd:fileIdentifier>.*?</gmd:fileIdentifier>", "", page, flags=re.S)
    assert stripped != page
    server = Listing([])
    server.pages[1] = Reply(stripped.encode(), "application/xml")
    url = portal.handle("/csw", server)
    [result] = harvest(config_of("csw", "csw", url), store, backend)
    assert result.counts["created"] == 2 and result.counts["failed"] == 0, result.message
    identifiers = re.findall(
        r"<gmd:identifier>\s*<gmd:MD_Identifier>\s*<gmd:code>\s*<gco:CharacterString>(.*?)<", stripped
    )
    for identifier in identifiers[:2]:
        assert stored(store, "csw", identifier.strip()).identifier == [identifier.strip()]
    [again] = harvest(config_of("csw", "csw", url), store, backend)
    assert (again.counts["created"], again.counts["unchanged"]) == (0, 2)


def test_iso_format_named_with_its_code_in_parentheses():
    """GeoNetwork's "ESRI Shapefile (SHP)" is the EU file type SHP, not an unknown literal."""
    from defusedxml.ElementTree import parse
    from fedcat.mappings.iso19139 import GMD

    path = corpus_file("csw/udata-csw/geonetwork-iso19139-page-3.xml")
    records = list(parse(path).getroot().iter(f"{{{GMD}}}MD_Metadata"))
    source = SourceContext(id="s", url="https://csw.test/")
    formats = set()
    for element in records:
        dataset = mapping_for("csw")(b"", "https://fedcat.test/datasets/s-1", source, element)
        formats |= {d.format for d in dataset.distributions}
        assert "ESRI Shapefile (SHP)" not in dataset.unmapped.get("format", [])
    assert f"{EU}file-type/SHP" in formats


def test_dkan_sizes_with_units_and_labelled_dates():
    """DKAN (through its CKAN API) writes "42 octets" and "Date changed  jeu, 19/12/2019 - 03:00"."""
    document = json.loads(corpus_file("ckan/udata-dkan-french-w-license.json").read_text())
    [package] = document["result"] if isinstance(document["result"], list) else [document["result"]]
    dataset = from_json("ckan", package)
    given = [(r.get("size"), r.get("last_modified")) for r in package["resources"]]
    assert ("42 octets", "Date changed  jeu, 19/12/2019 - 03:00") in given
    read = [(d.byte_size, d.modified) for d in dataset.distributions]
    assert read[given.index(("42 octets", "Date changed  jeu, 19/12/2019 - 03:00"))] == (
        42,
        "2019-12-19T03:00:00",
    )
    assert "distribution_byte_size" not in dataset.unmapped


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("1234", 1234),
        ("1,234", 1234),
        ("1 234 567", 1234567),
        ("12,5 Mo", 12_500_000),
        ("1.5 GB", 1_500_000_000),
    ],
)
def test_byte_sizes_as_portals_write_them(size, expected):
    package = {
        "id": "p",
        "title": "T",
        "resources": [{"url": "https://files.example.org/f.csv", "size": size}],
    }
    [dist] = from_json("ckan", package).distributions
    assert dist.byte_size == expected


def test_values_that_cannot_be_read_are_reported_placeholders_are_not():
    """A date or size fedcat cannot read is kept in the run report; "None" (HDX writes it for a resource
    without size or date) is no value at all."""
    item = {
        "identifier": "x",
        "title": "T",
        "issued": "Spring 2019",
        "distribution": [{"byteSize": "about 3 GB"}],
    }
    dataset = from_json("datajson", item)
    assert dataset.issued is None and dataset.unmapped["issued"] == ["Spring 2019"]
    assert dataset.unmapped["distribution_byte_size"] == ["about 3 GB"]
    package = {"id": "p", "title": "T", "resources": [{"url": "https://f.example.org/a", "size": "None"}]}
    assert from_json("ckan", package).unmapped == {}


def test_lists_given_as_one_value_numbers_given_as_text():
    """Where a list belongs a portal may give one value (a resource dict, a string of tags), where text
    belongs a number (a title that is a year): each arrives."""
    package = {"id": "p", "title": 2019, "tags": ["roads", "bridges"], "groups": ["transport"]}
    package["resources"] = {"url": "https://files.example.org/roads.csv", "format": "CSV"}
    dataset = from_json("ckan", package)
    assert [t.value for t in dataset.title] == ["2019"]
    assert [k.value for k in dataset.keywords] == ["roads", "bridges"]
    assert dataset.themes == [f"{EU}data-theme/TRAN"]
    assert [d.access_url for d in dataset.distributions] == [["https://files.example.org/roads.csv"]]
    item = {"id": "5ff5e6e99724cb8fff59a5be", "title": "T", "tags": "transport, vélo", "resources": None}
    dataset = from_json("udata", item)
    assert [k.value for k in dataset.keywords] == ["transport", "vélo"]
    assert dataset.themes == [f"{EU}data-theme/TRAN"]


def test_iso_licence_code_glued_to_its_version_and_no_none_rights():
    from defusedxml.ElementTree import parse

    source = SourceContext(id="s", url="https://csw.test/")
    element = parse(corpus_file("csw/owslib/iso_keywords_anchor.xml")).getroot()
    dataset = mapping_for("csw")(b"", "https://fedcat.test/datasets/s-1", source, element)
    assert dataset.licence == f"{EU}licence/CC_BY_4_0"  # written "cc-by4.0"
    element = parse(corpus_file("csw/owslib/iso_xml_srv.xml")).getroot()
    dataset = mapping_for("csw")(b"", "https://fedcat.test/datasets/s-1", source, element)
    rights = {d.rights for d in dataset.distributions}
    assert rights and all(r and "None" not in r.split("\n") for r in rights)
    assert "None" not in dataset.unmapped.get("licence", [])


def test_hdx_maintainer_named_by_a_user_id_is_no_name():
    """HDX's `maintainer` is the maintainer's user id (a UUID): the contact point keeps the e-mail and no
    name, rather than being shown as "8b84230c-e04a-…"."""
    document = json.loads(corpus_file("ckan/hdx/package_search-result.from-yaml.json").read_text())
    checked = 0
    for package in document["results"]:
        if not re.fullmatch(r"[0-9a-f-]{36}", package.get("maintainer") or ""):
            continue
        [contact] = from_json("ckan", package).contact_points
        assert contact.name is None and contact.email == package["maintainer_email"]
        checked += 1
    assert checked


def test_dcat_us_3_creator_and_relation_arrive():
    item = json.loads(
        corpus_file("datajson/gsa-harvester/dcatus3_0_complete_example_dataset.json").read_text()
    )
    dataset = from_json("datajson", item)
    assert dataset.creator is not None and dataset.creator.uri == item["creator"]["@id"]
    assert [t.value for t in dataset.creator.name] == [item["creator"]["name"]]
    assert set(item["relation"]) <= set(dataset.related)


def test_a_standard_named_by_text_is_reported_not_dropped():
    """ckanext-dcat's example says `conforms_to: ["Standard 1", "Standard 2"]`: no IRI to publish as
    dct:conformsTo, so the run report keeps them."""
    package = json.loads(corpus_file("ckan/ckanext-dcat-examples/ckan_full_dataset_dcat_ap.json").read_text())
    package.setdefault("id", package["name"])
    dataset = from_json("ckan", package)
    assert dataset.unmapped["conforms_to"] == package["conforms_to"]
    # a list of links read in part: the DOI is published, the name beside it reported
    assert "https://doi.org/10.1038/sdata.2018.22" in dataset.is_referenced_by
    assert dataset.unmapped["is_referenced_by"] == ["test_isreferencedby"]
