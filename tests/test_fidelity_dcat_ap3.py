"""Every DCAT-AP 3.0 property of a dataset or distribution that a real catalogue gives survives: read from
the shared corpus's files with rdflib (the reference), mapped by fedcat as a `dcat` source maps them,
written as fedcat's DCAT-AP and read back from Turtle, and present in the JSON document too."""

from __future__ import annotations

import hashlib
import json

import pyoxigraph
import pytest
import rdflib
from conftest import CORPUS
from fedcat.api.datasets import _document
from fedcat.harvester.adapters.dcat import read_page
from fedcat.mappings.context import SourceContext
from fedcat.mappings.rdf import dataset_triples, serialize
from fedcat.mappings.registry import mapping_for

DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")
DCT = rdflib.Namespace("http://purl.org/dc/terms/")
ADMS = rdflib.Namespace("http://www.w3.org/ns/adms#")
PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
FOAF = rdflib.Namespace("http://xmlns.com/foaf/0.1/")
DCATAP = rdflib.Namespace("http://data.europa.eu/r5r/")
BASE = "https://fedcat.test/datasets/"
FORMATS = {".ttl": "turtle", ".rdf": "xml", ".xml": "xml", ".jsonld": "json-ld"}
OX_FORMATS = {
    ".ttl": pyoxigraph.RdfFormat.TURTLE,
    ".rdf": pyoxigraph.RdfFormat.RDF_XML,
    ".xml": pyoxigraph.RdfFormat.RDF_XML,
    ".jsonld": pyoxigraph.RdfFormat.JSON_LD,
}

needs_corpus = pytest.mark.skipif(
    not (CORPUS / "dcat").is_dir(), reason=f"the recorded corpus is absent ({CORPUS / 'dcat'})"
)


def record_uri(source_record_id: str) -> str:
    return BASE + "s-" + hashlib.blake2b(source_record_id.encode(), digest_size=8).hexdigest()


def fedcat_of(relative: str) -> tuple[rdflib.Graph, rdflib.Graph, list]:
    """(the file as rdflib reads it, fedcat's Turtle of its records read back, their JSON documents)."""
    path = CORPUS / "dcat" / relative
    base = "https://x.test/"
    reference = rdflib.Graph().parse(path, format=FORMATS[path.suffix], publicID=base)
    page = read_page(path.read_bytes(), OX_FORMATS[path.suffix], base, base, 1)
    source = SourceContext("s", base, record_uri=record_uri)
    mapping = mapping_for("dcat")
    datasets = [
        mapping(r.payload, record_uri(r.source_record_id), source, None)  # re-mapped from the stored payload
        for r in page.records
    ]
    turtle = serialize([t for d in datasets for t in dataset_triples(d)], "ttl")
    exported = rdflib.Graph().parse(data=turtle, format="turtle")
    return reference, exported, [_document(d) for d in datasets]


def values_of(graph: rdflib.Graph, cls: rdflib.URIRef, predicate: rdflib.URIRef) -> set[str]:
    """The values of `predicate` on every subject of class `cls`: IRIs and literals as their text, a
    blank node (a statement) by the texts of its label or description."""
    found = set()
    for subject in set(graph.subjects(rdflib.RDF.type, cls)):
        for obj in graph.objects(subject, predicate):
            if isinstance(obj, rdflib.BNode):
                found |= {
                    str(t).strip()
                    for p in (rdflib.RDFS.label, DCT.description)
                    for t in graph.objects(obj, p)
                }
            elif str(obj).strip():
                found.add(str(obj).strip())
    return found


def strings_in(value) -> set[str]:
    """Every string of a JSON document (lists and objects walked)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(set(), *(strings_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(strings_in(v) for v in value))
    return set()


def is_link(value: str) -> bool:
    return value.startswith(("http://", "https://"))


# (file, class, predicate in the source, predicate in fedcat's output, only IRIs are expected out)
CASES = [
    ("ckanext-dcat/dataset.rdf", DCAT.Dataset, DCT.provenance, DCT.provenance, False),
    ("ckanext-dcat/dataset.rdf", DCAT.Dataset, ADMS.versionNotes, ADMS.versionNotes, False),
    # DCAT 2's dct:hasVersion is DCAT 3's dcat:hasVersion (the predicate alias table)
    ("ckanext-dcat/dataset.rdf", DCAT.Dataset, DCT.hasVersion, DCAT.hasVersion, False),
    ("ckanext-dcat/dataset.rdf", DCAT.Dataset, DCT.isVersionOf, DCT.isVersionOf, False),
    ("ckanext-dcat/dataset.rdf", DCAT.Dataset, DCT.source, DCT.source, False),
    # literals that are not links cannot be the resources dct:isReferencedBy names (JSON keeps them)
    ("ckanext-dcat/dataset.rdf", DCAT.Dataset, DCT.isReferencedBy, DCT.isReferencedBy, True),
    (
        "ckanext-dcat/dataset.rdf",
        DCAT.Dataset,
        DCAT.spatialResolutionInMeters,
        DCAT.spatialResolutionInMeters,
        False,
    ),
    ("ckanext-dcat/dataset.rdf", DCAT.Dataset, DCAT.temporalResolution, DCAT.temporalResolution, False),
    ("ckanext-dcat/dataset.rdf", DCAT.Distribution, DCATAP.availability, DCATAP.availability, False),
    ("ckanext-dcat/dataset.rdf", DCAT.Distribution, DCAT.compressFormat, DCAT.compressFormat, False),
    ("ckanext-dcat/dataset.rdf", DCAT.Distribution, DCAT.packageFormat, DCAT.packageFormat, False),
    ("ckanext-dcat/dataset.rdf", DCAT.Distribution, DCAT.temporalResolution, DCAT.temporalResolution, False),
    (
        "ckanext-dcat/dataset.rdf",
        DCAT.Distribution,
        DCAT.spatialResolutionInMeters,
        DCAT.spatialResolutionInMeters,
        False,
    ),
    ("ckanext-dcat/dataset.rdf", DCAT.Distribution, FOAF.page, FOAF.page, False),
    ("udata-fixtures/series.xml", DCAT.Dataset, DCT.provenance, DCT.provenance, False),
    ("govdata-dcatde/metadata_max.rdf", DCAT.Dataset, ADMS.versionNotes, ADMS.versionNotes, False),
    ("govdata-dcatde/metadata_max.rdf", DCAT.Dataset, DCT.provenance, DCT.provenance, False),
    ("ckanext-dcat/dataset_gov_de.rdf", DCAT.Distribution, DCATAP.availability, DCATAP.availability, False),
    ("dcatapit/dataset.rdf", DCAT.Dataset, DCT.rightsHolder, DCT.rightsHolder, False),
]


@needs_corpus
@pytest.mark.parametrize(
    ("relative", "cls", "given", "written", "links_only"),
    CASES,
    ids=[f"{c[0]}:{c[1].split('#')[-1]}:{c[2].n3().split('/')[-1].split('#')[-1]}" for c in CASES],
)
def test_a_dcat_ap_3_property_the_source_gives_is_in_the_turtle_and_the_json(
    relative, cls, given, written, links_only
):
    reference, exported, documents = fedcat_of(relative)
    if given == DCT.rightsHolder:  # an agent: by its names
        expected = {str(n) for a in reference.objects(None, given) for n in reference.objects(a, FOAF.name)}
        got = {str(n) for a in exported.objects(None, written) for n in exported.objects(a, FOAF.name)}
    else:
        expected = values_of(reference, cls, given)
        if links_only:
            expected = {v for v in expected if is_link(v)}
        got = values_of(exported, cls, written)
    assert expected, f"{relative} gives no {given} on a {cls}: the case checks nothing"
    assert expected <= got
    strings = strings_in(documents)
    assert all(any(value in s for s in strings) for value in expected)


@needs_corpus
def test_qualified_relations_attributions_and_activities_keep_their_parts():
    reference, exported, documents = fedcat_of("opendata-swiss/1901.xml")
    given = {
        (str(reference.value(r, DCT.relation)), str(reference.value(r, DCAT.hadRole)))
        for r in reference.objects(None, DCAT.qualifiedRelation)
    }
    relations = set(exported.objects(None, DCAT.qualifiedRelation))
    assert {
        (str(exported.value(r, DCT.relation)), str(exported.value(r, DCAT.hadRole))) for r in relations
    } == given
    assert ("http://example.org/Original987", "http://www.iana.org/assignments/relation/original") in given
    assert all((r, rdflib.RDF.type, DCAT.Relationship) in exported for r in relations)

    reference, exported, documents = fedcat_of(
        "udata-fixtures/datara--5a26b0f6-0ccf-46ad-ac58-734054b91977.rdf.xml"
    )
    given = {
        str(n)
        for a in reference.objects(None, PROV.qualifiedAttribution)
        for agent in reference.objects(a, PROV.agent)
        for n in reference.objects(agent, FOAF.name)
    }
    written = {
        str(n)
        for a in exported.objects(None, PROV.qualifiedAttribution)
        for agent in exported.objects(a, PROV.agent)
        for n in exported.objects(agent, FOAF.name)
    }
    assert given and given <= written
    assert "IGN" in json.dumps(documents, ensure_ascii=False)


@needs_corpus
def test_a_sample_is_a_distribution_of_fedcat_linked_to_the_source_one():
    reference, exported, _documents = fedcat_of("ckanext-dcat/dataset.rdf")
    [given] = reference.objects(None, ADMS.sample)
    [sample] = exported.objects(None, ADMS.sample)
    assert (sample, rdflib.RDF.type, DCAT.Distribution) in exported
    assert exported.value(sample, rdflib.OWL.sameAs) == given
    assert str(sample).startswith(BASE)  # under fedcat's dataset, as its distributions are


@needs_corpus
def test_dct_media_type_is_read_as_the_media_type():
    """The DataTank's catalogue (Antwerpen) writes dct:mediaType: its distributions keep their format."""
    reference, exported, documents = fedcat_of("ods-dcat-draft/antwerpen-datatank-dcat-2015.ttl")
    given = set(reference.subjects(DCT.mediaType, None))
    assert len(given) > 300
    distributions = set(exported.subjects(rdflib.RDF.type, DCAT.Distribution))
    with_type = {d for d in distributions if exported.value(d, DCAT.mediaType) is not None}
    assert len(with_type) == len(given)
    assert {str(exported.value(d, DCAT.mediaType)) for d in with_type} >= {
        "http://www.iana.org/assignments/media-types/application/json"
    }
    assert all(dist.get("format") for doc in documents for dist in doc.get("distributions", []))


@needs_corpus
def test_dct_abstract_is_read_as_the_description():
    """GeoNetwork's DCAT output describes its dataset with dct:abstract only: it is the description."""
    reference, exported, documents = fedcat_of("udata-fixtures/geonetwork.xml")
    [abstract] = list(reference.objects(None, DCT.abstract))
    [dataset] = list(exported.subjects(rdflib.RDF.type, DCAT.Dataset))
    assert [str(d) for d in exported.objects(dataset, DCT.description)] == [str(abstract)]
    assert [t["value"] for t in documents[0]["description"]] == [str(abstract)]


@needs_corpus
def test_a_location_that_says_nothing_is_not_kept():
    """GovData's catalogue gives blank dct:Locations: no `{}` in the JSON, no empty dct:Location out."""
    reference, exported, documents = fedcat_of("govdata-dcatde/catalog-endpoint.rdf")
    assert any(
        not {p for p, _ in reference.predicate_objects(loc)} - {rdflib.RDF.type}
        for loc in reference.objects(None, DCT.spatial)
    )
    assert all(loc for doc in documents for loc in doc.get("spatial", []))
    for location in exported.objects(None, DCT.spatial):
        said = {p for p, _ in exported.predicate_objects(location)} - {rdflib.RDF.type}
        assert said or isinstance(location, rdflib.URIRef)


@needs_corpus
@pytest.mark.parametrize(
    "relative",
    [
        "semic-dcat-ap-3.0.1-examples/example-bee-population-dataset-series.ttl",
        "semic-dcat-ap-3.0.1-examples/example-bee-population-dataset-series-ordered.ttl",
    ],
)
def test_a_series_and_its_members_are_linked_both_ways(relative):
    reference, exported, documents = fedcat_of(relative)
    [given_series] = reference.subjects(rdflib.RDF.type, DCAT.DatasetSeries)
    members = set(reference.subjects(DCAT.inSeries, given_series))
    [series] = [s for s in exported.subjects(rdflib.RDF.type, DCAT.DatasetSeries) if str(s).startswith(BASE)]
    assert exported.value(series, rdflib.OWL.sameAs) == given_series
    assert (series, rdflib.RDF.type, DCAT.Dataset) in exported  # listed by catalogues as a dataset
    assert {str(t) for t in exported.objects(series, DCT.title)} == {
        str(t) for t in reference.objects(given_series, DCT.title)
    }
    listed = set(exported.objects(series, DCAT.seriesMember))
    assert len(listed) == len(members)
    for member in listed:
        assert (member, DCAT.inSeries, series) in exported  # by fedcat's URIs, from the series' record
        assert (member, DCAT.inSeries, given_series) in exported  # the member's own, as the source said
        assert exported.value(member, rdflib.OWL.sameAs) in members
    [series_doc] = [d for d in documents if d.get("is_series")]
    assert sorted(series_doc["series_members"]) == sorted(str(m) for m in listed)
    assert all(d["in_series"] == [str(given_series)] for d in documents if not d.get("is_series"))


@needs_corpus
def test_the_harvest_and_a_re_map_from_the_stored_payload_agree():
    """A series' members are in its payload: the mapping made during the harvest (page graph at hand) and a
    re-map from the store give the same records."""
    path = CORPUS / "dcat" / "semic-dcat-ap-3.0.1-examples/example-bee-population-dataset-series-ordered.ttl"
    page = read_page(path.read_bytes(), pyoxigraph.RdfFormat.TURTLE, "https://x.test/", "u", 1)
    source = SourceContext("s", "https://x.test/", record_uri=record_uri)
    mapping = mapping_for("dcat")
    for r in page.records:
        uri = record_uri(r.source_record_id)
        assert mapping(r.payload, uri, source, r.parsed) == mapping(r.payload, uri, source, None)
    assert any(mapping(r.payload, "u", source, None).series_members for r in page.records)


@needs_corpus
def test_a_page_the_forgiving_parser_reads_maps_the_same_way_every_time():
    """GeoNetwork's RDF/XML needs rdflib's forgiving parser, whose graph is a set: its themes and
    distributions came out in another order at each run. Now the harvest's mapping is the re-map's."""
    path = CORPUS / "dcat" / "udata-fixtures" / "geonetwork.xml"
    page = read_page(path.read_bytes(), pyoxigraph.RdfFormat.RDF_XML, "https://x.test/", "u", 1)
    source = SourceContext("s", "https://x.test/", record_uri=record_uri)
    mapping = mapping_for("dcat")
    [record] = page.records
    uri = record_uri(record.source_record_id)
    harvested = mapping(record.payload, uri, source, record.parsed)
    assert len(harvested.themes) > 5 and len(harvested.distributions) > 1
    assert harvested == mapping(record.payload, uri, source, None)


def ckanext_dcat(name: str) -> dict:
    path = CORPUS / "ckan" / "ckanext-dcat-examples" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    package = json.loads(path.read_text(encoding="utf-8"))
    package.setdefault("id", name.removesuffix(".json"))
    return package


def mapped_json(source_type: str, item: dict):
    source = SourceContext("s", "https://portal.test", record_uri=record_uri)
    dataset = mapping_for(source_type)(json.dumps(item).encode(), BASE + "s-x", source, None)
    turtle = serialize(dataset_triples(dataset), "ttl")
    return dataset, rdflib.Graph().parse(data=turtle, format="turtle"), _document(dataset)


@pytest.mark.parametrize("name", ["ckan_full_dataset_dcat_ap.json", "ckan_full_dataset_dcat_ap_legacy.json"])
def test_ckanext_dcat_fields_reach_the_turtle_and_the_json(name):
    package = ckanext_dcat(name)
    extras = {e["key"]: e["value"] for e in package.get("extras", [])}

    def given(key: str):
        return package.get(key, extras.get(key))

    _, graph, document = mapped_json("ckan", package)
    subject = rdflib.URIRef(BASE + "s-x")
    assert {str(o) for o in graph.objects(subject, DCT.provenance / rdflib.RDFS.label)} == {
        given("provenance")
    }
    assert {str(o) for o in graph.objects(subject, ADMS.versionNotes)} == {given("version_notes")}
    assert str(graph.value(subject, DCAT.temporalResolution)) == given("temporal_resolution")
    assert float(graph.value(subject, DCAT.spatialResolutionInMeters)) == float(
        given("spatial_resolution_in_meters")
    )
    referenced = (
        {v for v in json.loads(given("is_referenced_by")) if is_link(v)}
        if name.endswith("legacy.json")
        else {v for v in given("is_referenced_by") if is_link(v)}
    )
    assert {str(o) for o in graph.objects(subject, DCT.isReferencedBy)} == referenced
    assert document["provenance"] == [{"value": given("provenance"), "lang": None}]
    [resource] = package["resources"]
    [dist] = graph.objects(subject, DCAT.distribution)
    for key, predicate in (
        ("availability", DCATAP.availability),
        ("compress_format", DCAT.compressFormat),
        ("package_format", DCAT.packageFormat),
    ):
        assert str(graph.value(dist, predicate)) == resource[key], key
        assert document["distributions"][0][key] == resource[key]
    if "qualified_relation" in package:
        [relation] = graph.objects(subject, DCAT.qualifiedRelation)
        assert str(graph.value(relation, DCT.relation)) == package["qualified_relation"][0]["relation"]
        assert str(graph.value(relation, DCAT.hadRole)) == package["qualified_relation"][0]["role"]


def test_a_ckanext_dcat_series_is_a_series():
    _, graph, document = mapped_json("ckan", ckanext_dcat("ckan_dcat_ap_dataset_series.json"))
    assert (rdflib.URIRef(BASE + "s-x"), rdflib.RDF.type, DCAT.DatasetSeries) in graph
    assert document["is_series"] is True


def test_dcat_us_3_properties_reach_the_turtle_and_the_json():
    path = CORPUS / "datajson" / "gsa-harvester" / "dcatus3_0_complete_example_dataset.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    item = json.loads(path.read_text(encoding="utf-8"))
    _, graph, document = mapped_json("datajson", item)
    subject = rdflib.URIRef(BASE + "s-x")
    assert {str(o) for o in graph.objects(subject, DCT.provenance / rdflib.RDFS.label)} == set(
        item["provenance"]
    )
    assert {str(o) for o in graph.objects(subject, DCAT.inSeries)} == {s["@id"] for s in item["inSeries"]}
    assert str(graph.value(subject, DCAT.temporalResolution)) == item["temporalResolution"]
    [activity] = graph.objects(subject, PROV.wasGeneratedBy)
    assert str(activity) == item["wasGeneratedBy"][0]["@id"]
    assert str(graph.value(activity, rdflib.RDFS.label)) == item["wasGeneratedBy"][0]["label"]
    [attribution] = graph.objects(subject, PROV.qualifiedAttribution)
    assert (
        str(graph.value(graph.value(attribution, PROV.agent), FOAF.name))
        == (item["qualifiedAttribution"][0]["agent"]["name"])
    )
    # a role named by text only: a dcat:Role labelled with it
    assert str(graph.value(graph.value(attribution, DCAT.hadRole), rdflib.RDFS.label)) == "Data Steward"
    [sample] = graph.objects(subject, ADMS.sample)
    assert str(graph.value(sample, DCAT.downloadURL)) == item["sample"][0]["downloadURL"]
    assert document["version_notes"] == [{"value": item["versionNotes"], "lang": "en"}]


def test_an_iso_lineage_is_the_provenance_and_a_distance_in_metres_the_spatial_resolution():
    """GeoDCAT-AP's mapping of gmd:lineage and gmd:spatialResolution, on a real GEMINI record."""
    path = CORPUS / "csw" / "ckanext-spatial" / "gemini2.1_dataset1.xml"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    source = SourceContext("s", "https://csw.test")
    dataset = mapping_for("csw")(path.read_bytes(), BASE + "s-x", source, None)
    graph = rdflib.Graph().parse(data=serialize(dataset_triples(dataset), "ttl"), format="turtle")
    subject = rdflib.URIRef(BASE + "s-x")
    [statement] = [str(o) for o in graph.objects(subject, DCT.provenance / rdflib.RDFS.label)]
    assert statement.startswith("Country Park is  not a  statutory designation.")
    assert [str(o) for o in graph.objects(subject, DCAT.spatialResolutionInMeters)] == ["5"]
    assert _document(dataset)["spatial_resolution_in_meters"] == ["5"]
