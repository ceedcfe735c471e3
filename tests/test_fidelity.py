"""Metadata a curator would keep: each class of loss found on real catalogues (issue 15, items 1-8), on
records written here in the same shapes, mapped by the real mappings and written as the real RDF export."""

from __future__ import annotations

import json
import re

import pyoxigraph
import pytest
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.mappings import vocabularies
from fedcat.mappings.context import SourceContext
from fedcat.mappings.model import text_in
from fedcat.mappings.rdf import dataset_ntriples
from fedcat.mappings.registry import mapping_for
from fedcat.mappings.text import plain_text

URI = "https://fedcat.example/datasets/x"
EU = "http://publications.europa.eu/resource/authority/"
IANA = "http://www.iana.org/assignments/media-types/"
GSP = "http://www.opengis.net/ont/geosparql#"
DCT = "http://purl.org/dc/terms/"
DCAT = "http://www.w3.org/ns/dcat#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
GMD, GCO, GMX = (
    "http://www.isotc211.org/2005/gmd",
    "http://www.isotc211.org/2005/gco",
    "http://www.isotc211.org/2005/gmx",
)
XLINK = "http://www.w3.org/1999/xlink"
PREFIXES = f"""@prefix dcat: <{DCAT}> . @prefix dct: <{DCT}> . @prefix rdfs: <{RDFS}> .
@prefix skos: <{SKOS}> . @prefix locn: <http://www.w3.org/ns/locn#> . @prefix gsp: <{GSP}> .
"""


def from_turtle(turtle: str):
    """Map the one dataset of a Turtle document as a `dcat` source does (through its stored N-Triples)."""
    from fedcat.harvester.adapters.dcat import read_page

    page = read_page((PREFIXES + turtle).encode(), pyoxigraph.RdfFormat.TURTLE, "https://x.test/", "u", 1)
    [record] = page.records
    return mapping_for("dcat")(record.payload, URI, SourceContext("s", "https://x.test/"), None)


def from_json(source_type: str, item: dict, **options):
    payload = json.dumps(item).encode()
    return mapping_for(source_type)(payload, URI, SourceContext("s", "https://portal.test", options), None)


def iso(body: str, distribution: str = "") -> bytes:
    return f"""<gmd:MD_Metadata xmlns:gmd="{GMD}" xmlns:gco="{GCO}" xmlns:gmx="{GMX}" xmlns:xlink="{XLINK}">
      <gmd:fileIdentifier><gco:CharacterString>rec-1</gco:CharacterString></gmd:fileIdentifier>
      <gmd:identificationInfo><gmd:MD_DataIdentification>
        <gmd:citation><gmd:CI_Citation><gmd:title><gco:CharacterString>Réseau</gco:CharacterString></gmd:title>
        </gmd:CI_Citation></gmd:citation>
        <gmd:abstract><gco:CharacterString>Un jeu</gco:CharacterString></gmd:abstract>
        {body}
      </gmd:MD_DataIdentification></gmd:identificationInfo>
      <gmd:distributionInfo><gmd:MD_Distribution>{distribution}</gmd:MD_Distribution></gmd:distributionInfo>
    </gmd:MD_Metadata>""".encode()


def online(url: str, protocol: str = "") -> str:
    proto = (
        f"<gmd:protocol><gco:CharacterString>{protocol}</gco:CharacterString></gmd:protocol>"
        if protocol
        else ""
    )
    return f"""<gmd:transferOptions><gmd:MD_DigitalTransferOptions><gmd:onLine><gmd:CI_OnlineResource>
      <gmd:linkage><gmd:URL>{url}</gmd:URL></gmd:linkage>{proto}
    </gmd:CI_OnlineResource></gmd:onLine></gmd:MD_DigitalTransferOptions></gmd:transferOptions>"""


def from_iso(xml: bytes):
    return mapping_for("csw")(xml, URI, SourceContext("s", "https://csw.test"), None)


def graph_of(dataset) -> pyoxigraph.Store:
    store = pyoxigraph.Store()
    store.bulk_load(dataset_ntriples(dataset).encode(), pyoxigraph.RdfFormat.N_TRIPLES)
    return store


def objects(store: pyoxigraph.Store, subject, predicate: str) -> list:
    return [q.object for q in store.quads_for_pattern(subject, pyoxigraph.NamedNode(predicate), None)]


def labels_of_licences(dataset) -> set[str]:
    """The rdfs:label of every dct:LicenseDocument the export gives the dataset's distributions."""
    store = graph_of(dataset)
    found = set()
    for dist in objects(store, pyoxigraph.NamedNode(URI), DCAT + "distribution"):
        for licence in objects(store, dist, DCT + "license"):
            found |= {o.value for o in objects(store, licence, RDFS + "label")}
    return found


# --- 1. licence text that names no known licence -------------------------------------------------------


def test_a_licence_document_known_only_by_its_label_is_published_with_that_label():
    dataset = from_turtle("""
      <https://x.test/d> a dcat:Dataset ; dct:title "Arbres" ;
        dcat:distribution [ a dcat:Distribution ; dcat:accessURL <https://x.test/a.csv> ;
          dct:license [ a dct:LicenseDocument ; rdfs:label "Conditions d'utilisation de la Ville"@fr ] ] .
    """)
    [dist] = dataset.distributions
    assert dist.licence is None and dist.licence_text == "Conditions d'utilisation de la Ville"
    assert labels_of_licences(dataset) == {"Conditions d'utilisation de la Ville"}


@pytest.mark.parametrize(
    "package, expected",
    [
        # CKAN's "other" licences: the title is what the publisher chose to say
        (
            {"license_id": "other-closed-ville", "license_title": "Licence de la Ville de Brest"},
            "Licence de la Ville de Brest",
        ),
        ({"license_id": "ville-brest", "license_title": ""}, "ville-brest"),
    ],
)
def test_ckan_licence_without_a_known_meaning_keeps_its_title(package, expected):
    item = {
        "id": "p1",
        "name": "p1",
        "title": "Arbres",
        "resources": [{"url": "https://x.test/a.csv"}],
        **package,
    }
    dataset = from_json("ckan", item)
    assert dataset.licence is None and dataset.licence_text == expected
    assert labels_of_licences(dataset) == {expected}


def test_a_known_licence_stays_the_eu_licence_and_no_text_is_added():
    item = {
        "id": "p1",
        "title": "Arbres",
        "license_id": "odc-odbl",
        "resources": [{"url": "https://x.test/a.csv"}],
    }
    dataset = from_json("ckan", item)
    assert dataset.licence == EU + "licence/ODC_BL" and dataset.licence_text is None
    assert dataset.distributions[0].licence_text is None


def test_data_json_licence_text_in_html_is_kept_as_clean_text_and_a_dataset_without_distribution_gets_rights():
    item = {
        "identifier": "d1",
        "title": "Bushfire",
        "license": "<div><p>Use of this data is subject to the <b>ACT Government</b> terms.</p></div>",
    }
    dataset = from_json("datajson", item)
    assert dataset.licence_text == "Use of this data is subject to the ACT Government terms."
    store = graph_of(dataset)
    [rights] = objects(store, pyoxigraph.NamedNode(URI), DCT + "rights")
    assert [o.value for o in objects(store, rights, RDFS + "label")] == [dataset.licence_text]


def test_iso_use_constraints_stay_rights_statements():
    body = """<gmd:resourceConstraints><gmd:MD_LegalConstraints><gmd:otherConstraints>
      <gco:CharacterString>Pas de restriction d'accès public</gco:CharacterString></gmd:otherConstraints>
      </gmd:MD_LegalConstraints></gmd:resourceConstraints>"""
    dataset = from_iso(iso(body, online("https://x.test/a.csv", "WWW:DOWNLOAD-1.0-http--download")))
    assert [d.rights for d in dataset.distributions] == ["Pas de restriction d'accès public"]


# --- 2. formats ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "media_type",
    [
        f"[ a dct:MediaType ; rdfs:isDefinedBy <{IANA}text/csv> ]",
        '[ a dct:MediaType ; dct:identifier "text/csv" ]',
        '[ a dct:MediaType ; rdfs:label "text/csv" ]',
    ],
)
def test_a_media_type_given_as_a_blank_node_is_read(media_type):
    dataset = from_turtle(f"""
      <https://x.test/d> a dcat:Dataset ; dct:title "T" ;
        dcat:distribution [ dcat:accessURL <https://x.test/data> ; dcat:mediaType {media_type} ] .
    """)
    [dist] = dataset.distributions
    assert dist.media_type == IANA + "text/csv"
    assert dist.format == EU + "file-type/CSV"


@pytest.mark.parametrize(
    "url, protocol, expected",
    [
        ("https://x.test/files/roads.zip", "", "ZIP"),
        (
            "https://x.test/geo/wfs?service=WFS&amp;request=GetFeature&amp;typeName=r&amp;outputFormat=csv",
            "",
            "CSV",
        ),
        ("https://x.test/ogcapi/collections/roads/items?f=json", "", "JSON"),
        ("https://x.test/geo/wms", "OGC:WMS", "WMS_SRVC"),
    ],
)
def test_iso_online_resources_get_the_format_their_url_or_protocol_names(url, protocol, expected):
    dataset = from_iso(iso("", online(url, protocol)))
    assert [d.format for d in dataset.distributions] == [EU + "file-type/" + expected]


def test_a_download_url_names_the_format_a_source_left_out():
    item = {
        "identifier": "d1",
        "title": "T",
        "distribution": [{"downloadURL": "https://x.test/f/roads.geojson"}],
    }
    [dist] = from_json("datajson", item).distributions
    assert dist.format == EU + "file-type/GEOJSON"


# --- 3. geometry literals --------------------------------------------------------------------------------


def test_geometry_literals_are_typed_by_their_content_and_every_encoding_is_kept():
    wkt = "<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POLYGON((2 48,3 48,3 49,2 49,2 48))"
    gml = '<gml:Envelope srsName="http://www.opengis.net/def/crs/OGC/1.3/CRS84"><gml:lowerCorner>2 48</gml:lowerCorner><gml:upperCorner>3 49</gml:upperCorner></gml:Envelope>'
    geojson = '{"type":"Polygon","coordinates":[[[2,48],[3,48],[3,49],[2,49],[2,48]]]}'
    # the GML first: the WKT must still be the extent search filters read, and none be dropped
    dataset = from_turtle(f"""
      <https://x.test/d> a dcat:Dataset ; dct:title "T" ;
        dct:spatial [ a dct:Location ;
          dcat:bbox {json.dumps(gml)}^^gsp:gmlLiteral, {json.dumps(wkt)}^^gsp:wktLiteral,
            {json.dumps(geojson)}^^gsp:geoJSONLiteral ] .
    """)
    [place] = dataset.spatial
    assert place.bbox == wkt
    assert set(place.other_bboxes) == {gml, geojson}
    store = graph_of(dataset)
    # one dct:Location per encoding: DCAT-AP's shapes allow one dcat:bbox per location
    locations = objects(store, pyoxigraph.NamedNode(URI), DCT + "spatial")
    assert all(len(objects(store, location, DCAT + "bbox")) == 1 for location in locations)
    typed = {(o.value, o.datatype.value) for loc in locations for o in objects(store, loc, DCAT + "bbox")}
    assert typed == {(wkt, GSP + "wktLiteral"), (gml, GSP + "gmlLiteral"), (geojson, GSP + "geoJSONLiteral")}


# --- 4. links that are not HTTP ------------------------------------------------------------------------


def test_ftp_download_urls_are_distributions():
    item = {
        "identifier": "d1",
        "title": "T",
        "distribution": [{"downloadURL": "ftp://ftp.agency.gov/pub/data/roads.zip", "format": "ZIP"}],
    }
    [dist] = from_json("datajson", item).distributions
    assert dist.download_url == ["ftp://ftp.agency.gov/pub/data/roads.zip"]
    assert "distribution_url" not in from_json("datajson", item).unmapped
    iso_dataset = from_iso(iso("", online("ftp://ftp.ign.test/bdtopo/roads.7z")))
    assert [d.access_url for d in iso_dataset.distributions] == [["ftp://ftp.ign.test/bdtopo/roads.7z"]]
    assert "ftp://ftp.ign.test/bdtopo/roads.7z" in dataset_ntriples(iso_dataset)


# --- 5. documents that are not a catalogue of datasets ---------------------------------------------------


def run_one(portal, catalogue, source_type: str, body: bytes, media_type: str):
    store, backend = catalogue
    url = portal.add("/doc", body, media_type)
    config = parse_config(
        {
            "settings": {"http": {"retries": 0}},
            "sources": [{"id": "s", "name": "s", "type": source_type, "url": url}],
        }
    )
    [result] = harvest(config, store, backend)
    return result, store


def test_a_bare_dcat_us_dataset_is_one_dataset(portal, catalogue):
    bare = {"@type": "dcat:Dataset", "identifier": "bare-1", "title": "Une seule", "description": "x"}
    result, store = run_one(portal, catalogue, "datajson", json.dumps(bare).encode(), "application/json")
    assert result.status == "complete", result.message
    assert store.count("s") == 1


def test_datasets_served_by_dcat_us_3_services_are_harvested(portal, catalogue):
    document = {
        "@type": "dcat:Catalog",
        "dataset": [{"identifier": "a", "title": "A"}],
        "service": [
            {
                "@type": "dcat:DataService",
                "@id": "https://x.test/services/api",
                "title": "API",
                "endpointURL": "https://x.test/api",
                "endpointDescription": "https://x.test/api/openapi.json",
                "license": "https://creativecommons.org/licenses/by/4.0/",
                "servesDataset": [{"identifier": "a", "title": "A"}, {"identifier": "b", "title": "B"}],
            }
        ],
    }
    result, store = run_one(portal, catalogue, "datajson", json.dumps(document).encode(), "application/json")
    assert result.status == "complete", result.message
    # the two datasets, and the service itself as a data service
    assert store.count("s") == 3 and result.counts["failed"] == 0
    from fedcat.store import record_id

    api = store.record(record_id("s", "https://x.test/services/api"))["dataset"]
    served = {srid: store.record(record_id("s", srid))["dataset"].uri for srid in ("a", "b")}
    assert api.service.endpoint_url == ["https://x.test/api"]
    assert api.service.endpoint_description == ["https://x.test/api/openapi.json"]
    assert api.service.served_as == served and text_in(api.title) == "API"
    graph = graph_of(api)
    node = pyoxigraph.NamedNode(api.uri)
    assert [t.value for t in objects(graph, node, RDF_TYPE)] == [DCAT + "DataService"]
    assert {o.value for o in objects(graph, node, DCAT + "servesDataset")} == set(served.values())


@pytest.mark.parametrize(
    "source_type, body, media_type, message",
    [
        ("datajson", b'{"type": "FeatureCollection", "features": []}', "application/json", "not a DCAT-US"),
        (
            "datajson",
            b'{"@type": "dcat:Catalog", "title": "empty"}',
            "application/json",
            "no `dataset` array",
        ),
        (
            "dcat",
            PREFIXES.encode() + b'<https://x.test/a> dct:title "A" .',
            "text/turtle",
            "no dcat:Catalog, dcat:Dataset or dcat:DataService found",
        ),
    ],
)
def test_a_document_that_is_not_a_catalogue_fails_saying_so(
    portal, catalogue, source_type, body, media_type, message
):
    result, store = run_one(portal, catalogue, source_type, body, media_type)
    assert result.status == "failed"
    assert message in result.message
    assert store.count() == 0


# --- 6. themes outside the EU vocabulary and their labels -------------------------------------------------


def test_theme_iris_are_kept_with_the_labels_the_source_gives():
    gemet = "http://www.eionet.europa.eu/gemet/concept/3138"
    agrovoc = "http://aims.fao.org/aos/agrovoc/c_2821"
    dataset = from_turtle(f"""
      <https://x.test/d> a dcat:Dataset ; dct:title "T" ;
        dcat:theme <{gemet}>, <{agrovoc}>, <http://inspire.ec.europa.eu/theme/hy> .
      <{gemet}> skos:prefLabel "coastal zone"@en, "zone côtière"@fr .
      <{agrovoc}> rdfs:label "Pest control"@en .
    """)
    assert set(dataset.themes) >= {gemet, agrovoc, "http://inspire.ec.europa.eu/theme/hy"}
    assert {t.value for t in dataset.labels[gemet]} == {"coastal zone", "zone côtière"}
    store = graph_of(dataset)
    labels = {o.value for o in objects(store, pyoxigraph.NamedNode(gemet), SKOS + "prefLabel")}
    assert labels == {"coastal zone", "zone côtière"}
    # INSPIRE themes are labelled from the vocabulary fedcat ships, in French and English
    hy = {
        o.value
        for o in objects(
            store, pyoxigraph.NamedNode("http://inspire.ec.europa.eu/theme/hy"), SKOS + "prefLabel"
        )
    }
    assert hy == {"Hydrographie", "Hydrography"}


def test_iso_inspire_theme_keywords_become_theme_iris():
    body = """<gmd:descriptiveKeywords><gmd:MD_Keywords>
        <gmd:keyword><gmx:Anchor xlink:href="http://inspire.ec.europa.eu/theme/ps">Sites protégés</gmx:Anchor></gmd:keyword>
      </gmd:MD_Keywords></gmd:descriptiveKeywords>
      <gmd:descriptiveKeywords><gmd:MD_Keywords>
        <gmd:keyword><gco:CharacterString>Hydrographie</gco:CharacterString></gmd:keyword>
        <gmd:thesaurusName><gmd:CI_Citation><gmd:title>
          <gco:CharacterString>GEMET - INSPIRE themes, version 1.0</gco:CharacterString>
        </gmd:title></gmd:CI_Citation></gmd:thesaurusName>
      </gmd:MD_Keywords></gmd:descriptiveKeywords>"""
    dataset = from_iso(iso(body))
    assert {"http://inspire.ec.europa.eu/theme/ps", "http://inspire.ec.europa.eu/theme/hy"} <= set(
        dataset.themes
    )


@pytest.mark.parametrize(
    "uri, label",
    [
        ("http://inspire.ec.europa.eu/theme/ef", "Installations de suivi environnemental"),
        (
            "https://hub.arcgis.com/api/v2/datasets/abc_1/license.json",
            "hub.arcgis.com/api/v2/datasets/abc_1/license.json",
        ),
        ("http://aims.fao.org/aos/agrovoc/c_2821", "aims.fao.org/aos/agrovoc/c_2821"),
    ],
)
def test_labels_never_fall_back_to_a_bare_code_or_file_name(uri, label):
    assert vocabularies.label(uri) == label


# --- 7. CKAN fields holding JSON ---------------------------------------------------------------------


def test_a_ckan_maintainer_written_as_json_is_read_as_a_person():
    maintainer = {
        "affiliation": "WSL",
        "email": "ana.rossi@wsl.ch",
        "given_name": "Ana",
        "identifier": "",
        "name": "Rossi",
    }
    item = {"id": "p1", "title": "Snow", "maintainer": json.dumps(maintainer), "resources": []}
    [contact] = from_json("ckan", item).contact_points
    assert (contact.name, contact.email, contact.organization) == ("Ana Rossi", "ana.rossi@wsl.ch", "WSL")
    assert '"WSL"' in dataset_ntriples(from_json("ckan", item))


# --- 8. HTML in descriptions --------------------------------------------------------------------------


def test_html_descriptions_keep_the_original_and_get_a_clean_text_for_search():
    html_text = '<p>Parcs <b>et</b> jardins&nbsp;: voir <a href="https://x.test/doc">la notice</a>.</p><ul><li>un</li><li>deux</li></ul>'
    dataset = from_json("datajson", {"identifier": "d1", "title": "Parcs", "description": html_text})
    assert [t.value for t in dataset.description] == [html_text]
    assert [t.value for t in dataset.description_text] == [
        "Parcs et jardins : voir [la notice](https://x.test/doc).\n\n- un\n- deux"
    ]
    from fedcat.indexer.documents import search_document

    assert search_document("x", "s", dataset).description == dataset.description_text[0].value


def test_plain_text_leaves_text_without_markup_alone():
    assert plain_text("a < b, 3 > 2 & co") == "a < b, 3 > 2 & co"


def test_facets_show_the_labels_sources_give_and_the_shipped_ones(portal, catalogue, tmp_path):
    from fastapi.testclient import TestClient
    from fedcat.api.app import create_app

    store, backend = catalogue
    gemet = "http://www.eionet.europa.eu/gemet/concept/3138"
    licence = "https://hub.arcgis.example/api/v3/datasets/abc_0/license.json"
    turtle = f"""
      <https://x.test/cat> a dcat:Catalog ; dct:title "C" ; dcat:dataset <https://x.test/d1>, <https://x.test/d2> .
      <https://x.test/d1> a dcat:Dataset ; dct:title "Côte" ; dct:license <{licence}> ;
        dcat:theme <{gemet}>, <http://inspire.ec.europa.eu/theme/hy> .
      <https://x.test/d2> a dcat:Dataset ; dct:title "Littoral" ; dcat:theme <{gemet}> .
      <{gemet}> skos:prefLabel "coastal zone"@en, "zone côtière"@fr .
      <{licence}> a dct:LicenseDocument ; rdfs:label "Conditions d'utilisation de la Ville"@fr .
    """
    url = portal.add("/cat.ttl", (PREFIXES + turtle).encode(), "text/turtle")
    bodies = tmp_path / "bodies.csv"
    bodies.write_text("id,name,kind\nepci:200093201,Métropole Européenne de Lille,epci\n", encoding="utf-8")
    config = parse_config(
        {
            "settings": {"http": {"retries": 0}, "bodies": [str(bodies)]},
            "sources": [
                {"id": "s", "name": "s", "type": "dcat", "url": url,
                 "jurisdiction": {"level": "epci", "code": "200093201"}},
            ],
        }
    )  # fmt: skip
    [result] = harvest(config, store, backend)
    assert result.status == "complete", result.message
    client = TestClient(create_app(store, backend, config))
    facets = client.get("/api/datasets").json()["facets"]
    labels = {f["value"]: (f["label"], f["count"]) for name in ("theme", "licence") for f in facets[name]}
    assert labels[gemet] == ("zone côtière", 2)  # the source's label, not "…/concept/3138"
    assert labels["http://inspire.ec.europa.eu/theme/hy"] == ("Hydrographie", 1)  # the shipped INSPIRE table
    assert labels[licence] == ("Conditions d'utilisation de la Ville", 1)  # not "license.json"
    [jurisdiction] = facets["jurisdiction"]
    assert jurisdiction["label"] == "Métropole Européenne de Lille"
    from fedcat.store import record_id

    one = client.get(
        f"/datasets/{record_id('s', 'https://x.test/d1')}?lang=en", headers={"Accept": "text/html"}
    )
    assert "coastal zone" in one.text and "Conditions d&#39;utilisation de la Ville" in one.text
    page = client.get("/?lang=en", headers={"Accept": "text/html"}).text
    assert "coastal zone" in page and "Hydrography" in page and "Conditions d&#39;utilisation" in page
    # the jurisdiction picker names the area and counts its datasets, never the raw key
    assert re.search(
        r'data-facet="jurisdiction">Métropole Européenne de Lille</a> <span class="count">2</span>', page
    )
    assert ">epci:200093201<" not in page


SERVICES = f"""
  <https://x.test/cat> a dcat:Catalog ; dct:title "C" ;
    dcat:dataset <https://x.test/d1> ; dcat:service <https://x.test/api> .
  <https://x.test/d1> a dcat:Dataset ; dct:title "Arbres" ;
    dcat:distribution [ a dcat:Distribution ; dcat:accessURL <https://x.test/wfs> ;
      dcat:accessService <https://x.test/wfs-service> ] .
  <https://x.test/wfs-service> a dcat:DataService ; dct:title "WFS des arbres" ;
    dcat:endpointURL <https://x.test/wfs> .
  <https://x.test/api> a dcat:DataService ; dct:title "API des arbres"@fr, "Tree API"@en ;
    dct:description "Une API."@fr ;
    dcat:endpointURL <https://x.test/api/v1> ;
    dcat:endpointDescription <https://x.test/api/v1/openapi.json> ;
    dcat:servesDataset <https://x.test/d1> ;
    dct:publisher [ a foaf:Agent ; foaf:name "Ville" ] ;
    dct:license <{EU}licence/ETALAB_2_0> ;
    dcat:keyword "arbres" .
  <https://x.test/wms> a dcat:DataService ; dct:title "WMS" ; dcat:endpointURL <https://x.test/wms?> .
"""


def test_stand_alone_data_services_are_harvested_and_published_as_data_services(portal, catalogue):
    from fastapi.testclient import TestClient
    from fedcat.api.app import create_app
    from fedcat.store import record_id

    body = (PREFIXES + "@prefix foaf: <http://xmlns.com/foaf/0.1/> .\n" + SERVICES).encode()
    result, store = run_one(portal, catalogue, "dcat", body, "text/turtle")
    assert result.status == "complete", result.message
    # the dataset, the service the catalogue lists, the one no distribution names; not the WFS service
    # a distribution names (it stays within that dataset)
    assert store.count("s") == 3
    api = store.record(record_id("s", "https://x.test/api"))["dataset"]
    assert api.service.endpoint_url == ["https://x.test/api/v1"]
    assert api.service.endpoint_description == ["https://x.test/api/v1/openapi.json"]
    assert api.service.serves_dataset == ["https://x.test/d1"]
    assert api.licence == EU + "licence/ETALAB_2_0" and text_in(api.publisher.name) == "Ville"
    # the dataset it serves, harvested from the same document: linked by fedcat's URI of that record
    d1 = store.record(record_id("s", "https://x.test/d1"))["dataset"]
    assert api.service.served_as == {"https://x.test/d1": d1.uri}
    # re-mapped from the stored payload (`fedcat remap`): the same service
    raw, _media_type = store.raw(record_id("s", "https://x.test/api"))
    base = api.uri.rsplit("/", 1)[0]
    context = SourceContext("s", "https://x.test/", record_uri=lambda srid: f"{base}/{record_id('s', srid)}")
    again = mapping_for("dcat")(raw, api.uri, context, None)
    assert again == api
    # published as a DCAT-AP data service, listed by the catalogue as one
    graph = graph_of(api)
    node = pyoxigraph.NamedNode(api.uri)
    assert [t.value for t in objects(graph, node, RDF_TYPE)] == [DCAT + "DataService"]
    assert [o.value for o in objects(graph, node, DCAT + "endpointURL")] == ["https://x.test/api/v1"]
    assert [o.value for o in objects(graph, node, DCAT + "servesDataset")] == [d1.uri]
    assert {o.value for o in objects(graph, node, DCT + "title")} == {"API des arbres", "Tree API"}
    assert [o.value for o in objects(graph, node, DCT + "license")] == [EU + "licence/ETALAB_2_0"]
    client = TestClient(create_app(store, catalogue[1], parse_config({"sources": []})))
    kinds = {i["title"]: i["kind"] for i in client.get("/api/datasets").json()["items"]}
    assert kinds == {"Arbres": "dataset", "API des arbres": "data_service", "WMS": "data_service"}
    catalog = client.get("/catalog.ttl").text
    assert "dcat:service" in catalog and "dcat:DataService" in catalog and "https://x.test/api/v1" in catalog
    html = {"Accept": "text/html"}
    page = client.get(f"/datasets/{record_id('s', 'https://x.test/api')}?lang=en", headers=html).text
    assert "Data service" in page and 'href="https://x.test/api/v1/openapi.json"' in page


def test_a_document_of_data_services_only_is_harvested():
    from fedcat.harvester.adapters.dcat import read_page

    turtle = (PREFIXES + '<https://x.test/api> a dcat:DataService ; dct:title "API" ;'
              " dcat:endpointURL <https://x.test/api/v1> .").encode()  # fmt: skip
    page = read_page(turtle, pyoxigraph.RdfFormat.TURTLE, "https://x.test/", "u", 1)
    assert [r.source_record_id for r in page.records] == ["https://x.test/api"]


DESCRIBED_VALUES = """
@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> . @prefix time: <http://www.w3.org/2006/time#> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
<https://datos.example/d> a dcat:Dataset ; dct:title "Encuesta"@es ;
  dct:accrualPeriodicity <https://datos.example/d/Frequency> ; dcat:distribution <https://datos.example/d/r1>,
  <https://datos.example/d/r2> .
<https://datos.example/d/Frequency> a dct:Frequency ; rdf:value <https://datos.example/d/Duration> .
<https://datos.example/d/Duration> a time:DurationDescription ; time:months 3.0 .
<https://datos.example/d/r1> a dcat:Distribution ; dcat:accessURL <https://datos.example/a.xls> ;
  dct:format <https://datos.example/d/r1/format> .
<https://datos.example/d/r1/format> a dct:IMT ; rdfs:label "XLS" ; rdf:value "application/vnd.ms-excel" .
<https://datos.example/d/r2> a dcat:Distribution ; dcat:accessURL <https://datos.example/b.csv> ;
  dct:format <http://publications.europa.eu/resource/authority/file-type/CSV> .
<http://publications.europa.eu/resource/authority/file-type/CSV> rdfs:label "Comma separated" .
"""


def test_values_named_by_iris_of_the_sources_own_and_described_beside_the_record_are_read():
    """datos.gob.es (DCAT-AP-ES) names each distribution's format and each frequency with an IRI of its
    own, described in the page: the description is what means something (XLS; every three months),
    while a vocabulary IRI stays itself whatever label the page gives it."""
    dataset = from_turtle(DESCRIBED_VALUES)
    eu = "http://publications.europa.eu/resource/authority/"
    assert [d.format for d in dataset.distributions] == [f"{eu}file-type/XLS", f"{eu}file-type/CSV"]
    assert dataset.accrual_periodicity == f"{eu}frequency/QUARTERLY"


def test_the_datos_gob_es_corpus_record_reads_its_format_and_frequency():
    from conftest import CORPUS

    path = CORPUS / "dcat" / "ckanext-dcat" / "dataset_gob_es.ttl"
    if not path.is_file():
        pytest.skip("../shared/corpus is absent: this check reads datos.gob.es's record from it")
    dataset = from_turtle(path.read_text(encoding="utf-8"))
    eu = "http://publications.europa.eu/resource/authority/"
    assert dataset.distributions[0].format == f"{eu}file-type/XLS"
    assert dataset.accrual_periodicity == f"{eu}frequency/ANNUAL"
    # its NTI sector "deporte" is the EU theme DCAT-AP-ES maps it to (Education, culture and sport)
    assert f"{eu}data-theme/EDUC" in dataset.themes


def test_an_inspire_theme_brings_the_eu_themes_it_falls_under_and_stays():
    """Geoportals theme their datasets with INSPIRE's register only: the EU theme facet would never find
    them. Each INSPIRE theme adds the EU themes the profiles' correspondence gives, the INSPIRE IRI kept."""
    dataset = from_turtle(
        """<https://geo.example/d> a dcat:Dataset ; dct:title "Cours d'eau"@fr ;
        dcat:theme <http://inspire.ec.europa.eu/theme/hy>, <https://inspire.ec.europa.eu/theme/tn/> ."""
    )
    eu = "http://publications.europa.eu/resource/authority/data-theme/"
    assert dataset.themes == [
        "http://inspire.ec.europa.eu/theme/hy",
        "https://inspire.ec.europa.eu/theme/tn/",
        f"{eu}ENVI",
        f"{eu}TECH",
        f"{eu}TRAN",
    ]
