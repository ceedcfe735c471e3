"""The harvested corpus, exported: round trip to rdflib, and the official DCAT-AP 3.0 SHACL shapes.

Every DCAT file of ../shared/corpus/dcat is served on 127.0.0.1 and harvested (one source each) into one
store, once for the module; the whole catalogue is exported and read back with rdflib, and validated with
pyshacl against the shapes in ../shared/corpus/shapes (the publisher's files, read where they are). The
fetch-and-cache path of the shapes is tested against a local server playing the publisher.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import rdflib
from conftest import CORPUS, MEDIA_TYPES, RDFLIB_FORMATS
from fedcat.cli import main as cli_main
from fedcat.demo.portal import PortalServer
from fedcat.export import export
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer import derived
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.indexer.sparql import catalog_info_from_store
from fedcat.mappings.rdf import repair_iri
from fedcat.store import Store, feed
from fedcat.validation import shacl
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, RDF

DATASET_SERIES = rdflib.URIRef("http://www.w3.org/ns/dcat#DatasetSeries")  # DCAT 3: not in rdflib's DCAT

SHAPES = CORPUS / "shapes"
BASE_URL = "https://fedcat.example"
PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")


def corpus_files() -> list[Path]:
    if not (CORPUS / "dcat").is_dir():
        return []
    return sorted(p for p in (CORPUS / "dcat").rglob("*") if p.is_file() and p.suffix in MEDIA_TYPES)


needs_corpus = pytest.mark.skipif(
    not corpus_files(), reason=f"the recorded corpus is absent ({CORPUS / 'dcat'})"
)
needs_shapes = pytest.mark.skipif(not SHAPES.is_dir(), reason=f"the official shapes are absent ({SHAPES})")


def source_id(path: Path) -> str:
    return f"c{corpus_files().index(path):03d}"


@pytest.fixture(scope="module")
def harvested(tmp_path_factory):
    """(store, config, data dir, run results by source id) of the whole corpus, harvested once."""
    files = corpus_files()
    if not files:
        pytest.skip(f"the recorded corpus is absent ({CORPUS / 'dcat'})")
    data_dir = tmp_path_factory.mktemp("corpus")
    store = Store(data_dir / "fedcat.db")
    backend = EmbeddedBackend(data_dir / "index")
    with PortalServer() as portal:
        sources = [
            {
                "id": source_id(path),
                "name": str(path.relative_to(CORPUS / "dcat")),
                "type": "dcat",
                "url": portal.add(
                    f"/{source_id(path)}/{path.name}", path.read_bytes(), MEDIA_TYPES[path.suffix]
                ),
            }
            for path in files
        ]
        config = parse_config({"settings": {"base_url": BASE_URL}, "sources": sources})
        results = {r.source_id: r for r in harvest(config, store, backend)}
    backend.close()
    yield store, config, data_dir, results
    store.close()


@pytest.fixture(scope="module")
def exported(harvested):
    """The whole catalogue exported as Turtle and read back with rdflib."""
    store, config, _, _ = harvested
    out = io.BytesIO()
    count = export(store.path, catalog_info_from_store(store, BASE_URL, config), out, "ttl", workers=1)
    assert count == store.count()
    return rdflib.Graph().parse(data=out.getvalue(), format="turtle")


def reference_graph(path: Path, url: str) -> rdflib.Graph | None:
    """The file as rdflib reads it offline, relative IRIs resolved against the URL it was served at."""
    try:
        return rdflib.Graph().parse(path, format=RDFLIB_FORMATS[path.suffix], publicID=url)
    except Exception:
        return None


def _texts(graph: rdflib.Graph, subject, predicate) -> set[tuple[str, str | None]]:
    return {(str(t).strip(), t.language) for t in graph.objects(subject, predicate) if str(t).strip()}


@needs_corpus
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: str(p.relative_to(CORPUS / "dcat")))
def test_export_round_trip(path, harvested, exported):
    """Every dataset, title, distribution and access URL of the source is in the export (count and set)."""
    store, config, _, results = harvested
    reference = reference_graph(path, config.source(source_id(path)).url)
    if reference is None or results[source_id(path)].status == "failed":
        assert store.count(source_id(path)) == 0  # nothing half-read: the harvest tests cover the message
        return
    # dataset series are datasets too (DCAT 3's subclass), listed in the catalogue as such
    source_datasets = set(reference.subjects(RDF.type, DCAT.Dataset)) | set(
        reference.subjects(RDF.type, DATASET_SERIES)
    )
    catalogue = rdflib.URIRef(f"{BASE_URL}/sources/{source_id(path)}")
    datasets = set(exported.objects(catalogue, DCAT.dataset))
    assert len(datasets) == len(source_datasets)
    assert {str(d).split("/datasets/")[1].split("-")[0] for d in datasets} <= {source_id(path)}
    # the source's IRIs are kept: fedcat's dataset was derived from it and is the same dataset
    source_iris = {repair_iri(str(d)) for d in source_datasets if isinstance(d, rdflib.URIRef)}
    assert {str(o) for d in datasets for o in exported.objects(d, PROV.wasDerivedFrom)} == source_iris
    # ... and a copy of a dataset another source also has is the same as its cluster's canonical copy
    same = {str(o) for d in datasets for o in exported.objects(d, OWL.sameAs)}
    # (dct:source also holds the datasets the source itself says each was derived from)
    given_sources = {
        repair_iri(str(o))
        for d in source_datasets
        for o in reference.objects(d, DCTERMS.source)
        if isinstance(o, rdflib.URIRef)
    }
    canonical = {str(o) for d in datasets for o in exported.objects(d, DCTERMS.source)} - given_sources
    assert same - canonical == source_iris
    assert all(o.startswith(f"{BASE_URL}/datasets/") for o in canonical)
    titles = set().union(set(), *(_texts(reference, d, DCTERMS.title) for d in source_datasets))
    assert set().union(set(), *(_texts(exported, d, DCTERMS.title) for d in datasets)) == titles
    counts = sorted(len(set(reference.objects(d, DCAT.distribution))) for d in source_datasets)
    assert sorted(len(set(exported.objects(d, DCAT.distribution))) for d in datasets) == counts
    # access URLs: as given; a distribution without one gets its download URL (accessURL is mandatory);
    # characters RDF forbids in IRIs ("?LAYER[id]=…") are percent-encoded
    expected: set[str] = set()
    for d in source_datasets:
        for dist in reference.objects(d, DCAT.distribution):
            urls = [str(u).strip() for u in reference.objects(dist, DCAT.accessURL) if str(u).strip()]
            urls = (
                urls
                or [str(u).strip() for u in reference.objects(dist, DCAT.downloadURL) if str(u).strip()][:1]
            )
            expected.update(repair_iri(u) for u in urls)
    got = {
        str(u)
        for d in datasets
        for dist in exported.objects(d, DCAT.distribution)
        for u in exported.objects(dist, DCAT.accessURL)
    }
    assert got == expected


@needs_corpus
def test_export_catalogue_structure(harvested, exported):
    store, config, _, _ = harvested
    catalogue = rdflib.URIRef(f"{BASE_URL}/catalog")
    assert (catalogue, RDF.type, DCAT.Catalog) in exported
    live = store.count()
    services = sum(1 for r in store.iter_records() if r["dataset"].service is not None)
    assert services > 0  # the corpus's stand-alone data services are records too
    assert len(set(exported.objects(catalogue, DCAT.dataset))) == live - services
    assert len(set(exported.objects(catalogue, DCAT.service))) == services
    records = set(exported.objects(catalogue, DCAT.record))
    assert len(records) == live
    for record in list(records)[:50]:
        assert exported.value(record, DCTERMS.modified) is not None
        dataset = exported.value(record, FOAF.primaryTopic)
        kinds = set(exported.objects(dataset, RDF.type))
        assert DCAT.Dataset in kinds or DCAT.DataService in kinds
        source_record = exported.value(record, DCTERMS.source)
        assert (source_record, RDF.type, DCAT.CatalogRecord) in exported
        assert exported.value(source_record, FOAF.primaryTopic) == dataset
        assert exported.value(source_record, DCTERMS.identifier) is not None
    assert {str(c) for c in exported.objects(catalogue, DCAT.catalog)} == {
        f"{BASE_URL}/sources/{s.id}" for s in config.sources
    }


@needs_corpus
@pytest.mark.parametrize("fmt", ["nt", "rdf", "jsonld"])
def test_export_formats_hold_the_same_graph(harvested, exported, fmt):
    store, config, _, _ = harvested
    out = io.BytesIO()
    export(store.path, catalog_info_from_store(store, BASE_URL, config), out, fmt, workers=1)
    parsed = rdflib.Graph().parse(
        data=out.getvalue(), format={"nt": "nt", "rdf": "xml", "jsonld": "json-ld"}[fmt]
    )
    assert len(parsed) == len(exported)


@needs_corpus
def test_parallel_export_writes_the_same_bytes(harvested, monkeypatch):
    """Worker processes write the same N-Triples as one process (forced on a small catalogue)."""
    from fedcat import export as export_module

    store, config, _, _ = harvested
    info = catalog_info_from_store(store, BASE_URL, config)
    single = io.BytesIO()
    export(store.path, info, single, "nt", workers=1)
    monkeypatch.setattr(export_module, "EXPORT_BATCH", 100)  # several ranges, so that order matters
    parallel = io.BytesIO()
    export(store.path, info, parallel, "nt", workers=2)
    assert parallel.getvalue() == single.getvalue()


# --- SHACL ------------------------------------------------------------------------------------------------


def _non_empty(line: str) -> bool:
    """An N-Triples line whose object is not an empty (or blank) literal."""
    obj = line.split(" ", 2)[2]
    return not (obj.startswith('"') and not obj[1 : obj.rindex('"')].strip())


def _raw_lines(store: Store, fedcat_id: str) -> list[str]:
    raw = store.raw(fedcat_id)
    assert raw is not None
    return raw[0].decode("utf-8").splitlines()


@needs_corpus
@needs_shapes
@pytest.mark.parametrize(
    ("profile", "folder"),
    [("dcat-ap-3.0.1", "dcat-ap-3.0.1"), ("dcat-ap-3.0.0", "dcat-ap-3.0.0"), ("dcat-ap-3.0.0", None)],
    ids=["3.0.1", "3.0.0", "3.0.0-shipped"],
)
def test_corpus_export_conforms_to_the_official_shapes(harvested, profile, folder, record_property):
    """Zero violations caused by fedcat's serialisation; what is left is data the sources never gave. The
    shapes are SEMIC's files from the corpus, or (folder None) the copy shipped with fedcat."""
    store, config, _, _ = harvested
    files = shacl.SHIPPED[profile] if folder is None else shacl.shape_files(profile, [SHAPES / folder])
    shapes = shacl.load_shapes(files)
    report = shacl.validate_store(
        store.path, catalog_info_from_store(store, BASE_URL, config), shapes, profile, batch=5000
    )
    summary = report.summary()
    print(
        f"\n{profile}: {json.dumps(summary['violations'])}; datasets with source-caused violations: "
        f"{summary['datasets_with_violations']} of {summary['datasets']}"
    )
    for rule in summary["rules"]:
        print(
            f"  {rule['cause']:>6} {rule['violations']:>5} in {rule['datasets']:>4} datasets  {rule['rule']}"
        )
    record_property(f"{profile}_fedcat_violations", len(report.violations("fedcat")))
    record_property(f"{profile}_source_violations", len(report.violations("source")))
    assert report.datasets == store.count()
    assert report.violations("fedcat") == [], [f.rule + " " + f.focus for f in report.violations("fedcat")][
        :20
    ]
    assert {f.component for f in report.violations("source")} == {"minCount"}
    assert report.violations("source"), (
        "the corpus has datasets without descriptions: the check must see them"
    )
    # a violation put down to the source is data the source's record really lacks (or gives empty)
    for finding in report.violations("source"):
        if finding.rule in ("dcat:Dataset dct:title: minCount", "dcat:Dataset dct:description: minCount"):
            prop = "<http://purl.org/dc/terms/" + finding.rule.split("dct:")[1].split(":")[0] + ">"
            if not finding.focus.startswith(f"<{BASE_URL}/datasets/"):
                # a dataset stand-alone services serve, or one a dataset says it derives from, is a
                # version of… (dct:source, dcat:hasVersion), that its source describes nowhere
                for service in finding.datasets:
                    raw = [
                        line for line in _raw_lines(store, service) if line.startswith(finding.focus + " ")
                    ]
                    assert not [line for line in raw if prop in line and _non_empty(line)], raw
                continue
            # the record of that very dataset (others may name it: a series lists its members)
            [dataset] = [d for d in finding.datasets if finding.focus == f"<{BASE_URL}/datasets/{d}>"]
            raw = _raw_lines(store, dataset)
            types = (f"<{DCAT.Dataset}> .", f"<{DATASET_SERIES}> .")  # a series is a record too
            [subject] = {line.split(" ", 1)[0] for line in raw if line.endswith(types)}
            given = [line for line in raw if line.startswith(f"{subject} {prop} ")]
            assert not [line for line in given if _non_empty(line)], given
        if finding.rule == "foaf:Agent foaf:name: minCount" and finding.focus.startswith("<"):
            for dataset in finding.datasets:
                described = [
                    line for line in _raw_lines(store, dataset) if line.startswith(finding.focus + " ")
                ]
                names = [
                    line for line in described if ("name" in line or "label" in line) and _non_empty(line)
                ]
                assert not names, described
    shapes_conflicts = report.violations("shapes")
    assert all(f.path == "locn:geometry" for f in shapes_conflicts)
    assert not shapes_conflicts or profile == "dcat-ap-3.0.0"


def test_serialisation_faults_are_caught():
    """The classification is not vacuous: what normalisation should have fixed is fedcat's fault."""
    if not SHAPES.is_dir():
        pytest.skip(f"the official shapes are absent ({SHAPES})")
    shapes = shacl.load_shapes(shacl.shape_files("dcat-ap-3.0.1", [SHAPES / "dcat-ap-3.0.1"]))
    d, dist = "<https://x.example/d>", "<https://x.example/d#1>"
    data = "".join(
        f"{s} <{p}> {o} .\n"
        for s, p, o in (
            (d, RDF.type, f"<{DCAT.Dataset}>"),
            (d, DCTERMS.title, '"t"'),
            (d, DCTERMS.description, '"d"'),
            (d, DCTERMS.accrualPeriodicity, '"monthly"'),  # a controlled vocabulary holding a literal
            (d, DCAT.distribution, dist),
            (dist, RDF.type, f"<{DCAT.Distribution}>"),
            (dist, DCAT.accessURL, "<https://x.example/file.csv>"),
            (dist, DCAT.byteSize, '"12"'),  # a wrong datatype
            (dist, DCTERMS.license, "<https://x.example/licence>"),  # a missing class
        )
    )
    report = shacl.validate(data, shapes, "dcat-ap-3.0.1", {d: ["d"], dist: ["d"]})
    assert {(f.rule, f.cause) for f in report.violations()} == {
        ("dcat:Dataset dct:accrualPeriodicity: nodeKind", "fedcat"),
        ("dcat:Dataset dct:accrualPeriodicity: class", "fedcat"),
        ("dcat:Distribution dcat:byteSize: datatype", "fedcat"),
        ("dcat:Distribution dct:license: class", "fedcat"),
    }
    assert all(f.datasets == ["d"] for f in report.violations())


# --- the shapes: fetched from the publisher, cached --------------------------------------------------------


@pytest.fixture
def publisher():
    """A local server playing semiceu.github.io, with the corpus copies at the publisher's paths."""
    if not SHAPES.is_dir():
        pytest.skip(f"the official shapes are absent ({SHAPES})")
    with PortalServer() as server:
        for remote, local in (
            ("3.0.1/html/shacl/shapes.ttl", "dcat-ap-3.0.1/html_shacl_shapes.ttl"),
            ("3.0.1/html/shacl/range.ttl", "dcat-ap-3.0.1/html_shacl_range.ttl"),
            ("3.0.0/shacl/dcat-ap-SHACL.ttl", "dcat-ap-3.0.0/shacl_dcat-ap-SHACL.ttl"),
        ):
            server.add(f"/DCAT-AP/releases/{remote}", (SHAPES / local).read_bytes(), "text/turtle")
        yield server


def test_shapes_are_fetched_once_and_cached(publisher, tmp_path):
    base = publisher.url("/DCAT-AP/releases/")
    files = shacl.cached_shapes("dcat-ap-3.0.1", tmp_path, publisher=base)
    assert [f.name for f in files] == ["shapes.ttl", "range.ttl"]
    assert files[0].read_bytes() == (SHAPES / "dcat-ap-3.0.1" / "html_shacl_shapes.ttl").read_bytes()
    assert len(publisher.log) == 2
    assert all(r.headers.get("User-Agent", "").startswith("fedcat/") for r in publisher.log)
    assert shacl.cached_shapes("dcat-ap-3.0.1", tmp_path, publisher=base) == files
    assert len(publisher.log) == 2  # the cache answered
    shapes = shacl.load_shapes(files)
    assert shapes.owners  # loads as SHACL


def test_a_bad_download_is_not_cached(publisher, tmp_path):
    publisher.add(
        "/DCAT-AP/releases/3.0.0/shacl/dcat-ap-SHACL.ttl", "<!DOCTYPE html><p>rate limited", "text/html"
    )
    with pytest.raises(shacl.ShapesError, match="not Turtle"):
        shacl.cached_shapes("dcat-ap-3.0.0", tmp_path, publisher=publisher.url("/DCAT-AP/releases/"))
    assert not (tmp_path / "dcat-ap-3.0.0" / "dcat-ap-SHACL.ttl").exists()


def test_the_fetch_stays_on_the_publisher(publisher, tmp_path):
    publisher.add(
        "/DCAT-AP/releases/3.0.0/shacl/dcat-ap-SHACL.ttl",
        "",
        status=302,
        headers={"Location": "http://example.org/x.ttl"},
    )
    with pytest.raises(shacl.ShapesError, match="leaves the source's origin"):
        shacl.cached_shapes("dcat-ap-3.0.0", tmp_path, publisher=publisher.url("/DCAT-AP/releases/"))


def test_shape_files_in_a_directory():
    if not SHAPES.is_dir():
        pytest.skip(f"the official shapes are absent ({SHAPES})")
    files = shacl.shape_files("dcat-ap-3.0.1", [SHAPES / "dcat-ap-3.0.1"])
    # shapes.ttl, not shapes_recommended.ttl nor mdr-vocabularies.shape.ttl
    assert [f.name for f in files] == ["html_shacl_shapes.ttl", "html_shacl_range.ttl"]
    with pytest.raises(shacl.ShapesError, match=r"no dcat-ap-SHACL\.ttl"):
        shacl.shape_files("dcat-ap-3.0.0", [SHAPES / "dcat-ap-hvd-3.0.0"])
    with pytest.raises(shacl.ShapesError, match="unknown shapes profile"):
        shacl.shape_files("dcat-ap-9", [])


# --- the CLI ----------------------------------------------------------------------------------------------


@needs_corpus
@needs_shapes
def test_cli_export_and_validate(harvested, tmp_path, capsys):
    store, config, data_dir, _ = harvested
    config_file = tmp_path / "sources.yaml"
    import yaml

    config_file.write_text(
        yaml.safe_dump(
            {
                "settings": {"base_url": BASE_URL},
                "sources": [
                    {"id": s.id, "name": s.name, "type": s.type, "url": s.url} for s in config.sources
                ],
            }
        )
    )
    common = ["--config", str(config_file), "--data-dir", str(data_dir)]
    target = tmp_path / "catalogue.nt"
    assert cli_main(["export", *common, "--format", "nt", "--out", str(target)]) == 0
    assert len(rdflib.Graph().parse(target, format="nt")) > 0
    assert f"exported {store.count()} datasets" in capsys.readouterr().err
    report = tmp_path / "report.json"
    code = cli_main(
        [
            "validate",
            *common,
            "--shapes",
            str(SHAPES / "dcat-ap-3.0.1"),
            "--limit",
            "200",
            "--report",
            str(report),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "200 datasets checked against official shapes dcat-ap-3.0.1" in printed
    assert "Violations caused by fedcat's serialisation: 0." in printed
    assert "Violations per rule" in printed
    body = json.loads(report.read_text())
    assert body["violations"]["fedcat"] == 0 and body["datasets"] == 200
    assert all(v["cause"] == "source" for found in body["by_dataset"].values() for v in found)
    # each dataset's result is stored for the quality score (conforms: no violation at all)
    stored = shacl.stored_conformance(store, [r[0] for r in store.db.execute("SELECT id FROM records")])
    assert len(stored) == 200
    assert {i for i, conforms in stored.items() if not conforms} == set(body["by_dataset"]) & set(stored)
    # the quality score reads them, and the validated records wait for the next index sync to be re-scored
    assert derived.shacl_results(store, list(stored)) == stored
    at = feed.cursor(store, "search")
    stale = {c.id for c in feed.changes_after(store, at, 10_000) if c.kind == "rescored"}
    assert set(stored) <= stale


def test_cli_validate_without_shapes_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FEDCAT_SHAPES_DIR", raising=False)
    config_file = tmp_path / "sources.yaml"
    config_file.write_text("sources: []\n")
    Store(tmp_path / "data" / "fedcat.db").close()
    code = cli_main(
        [
            "validate",
            "--config",
            str(config_file),
            "--data-dir",
            str(tmp_path / "data"),
            "--shapes",
            str(tmp_path / "nowhere"),
        ]
    )
    assert code == 2
    assert "no such file or directory" in " ".join(capsys.readouterr().err.split())


# --- without the official shapes: fedcat's core shapes; installing the official ones -------------------------


@needs_corpus
def test_corpus_export_against_the_core_shapes(harvested, monkeypatch):
    """Without official shapes, validation uses fedcat's core shapes: no fault of fedcat's serialisation,
    the corpus's datasets without a description found, recommended properties reported as warnings."""
    store, config, data_dir, _ = harvested
    monkeypatch.delenv("FEDCAT_SHAPES_DIR", raising=False)
    choice = shacl.resolve_shapes("dcat-ap-3.0.1", data_dir=data_dir / "no-shapes-here")
    assert (choice.label, choice.files) == ("fedcat's DCAT-AP 3.0 core shapes", [shacl.CORE_SHAPES])
    shapes = shacl.load_shapes(choice.files, choice.label)
    report = shacl.validate_store(store.path, catalog_info_from_store(store, BASE_URL, config), shapes)
    assert report.summary()["shapes"] == "fedcat's DCAT-AP 3.0 core shapes"
    assert report.datasets == store.count()
    assert report.violations("fedcat") == [], [f.rule + " " + f.focus for f in report.violations("fedcat")][
        :20
    ]
    rules = {f.rule for f in report.violations("source")}
    assert "dcat:Dataset dct:description: minCount" in rules
    warned = {f.rule for f in report.findings if f.severity == "Warning"}
    assert "dcat:Dataset dcat:theme: minCount" in warned
    assert not {f.rule for f in report.findings if f.severity == "Violation"} & warned


SHAPE_FILE = """@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
<urn:x:%s> a sh:NodeShape ; sh:targetClass dcat:Dataset ;
    sh:property [ sh:path dct:title ; sh:minCount 1 ] .
"""


def _shape_dir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shapes.ttl").write_text(SHAPE_FILE % "shapes")
    (folder / "range.ttl").write_text(SHAPE_FILE % "range")
    return folder


def test_install_shapes_from_files_and_from_a_url(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FEDCAT_SHAPES_DIR", raising=False)
    data = tmp_path / "data"
    common = ["--config", str(tmp_path / "none.yaml"), "--data-dir", str(data)]
    assert shacl.resolve_shapes("dcat-ap-3.0.1", data_dir=data).label == shacl.CORE_LABEL
    # from a directory the operator has
    assert cli_main(["install-shapes", *common, str(_shape_dir(tmp_path / "mine"))]) == 0
    assert "installed the official shapes dcat-ap-3.0.1" in capsys.readouterr().err
    choice = shacl.resolve_shapes("dcat-ap-3.0.1", data_dir=data)
    assert choice.label == "official shapes dcat-ap-3.0.1 (installed)"
    assert [f.read_text() for f in choice.files] == [SHAPE_FILE % "shapes", SHAPE_FILE % "range"]
    # a file that is not Turtle installs nothing and keeps what was there
    bad = _shape_dir(tmp_path / "bad")
    (bad / "range.ttl").write_text("<!DOCTYPE html><p>not found")
    assert cli_main(["install-shapes", *common, str(bad)]) == 2
    assert "not Turtle" in capsys.readouterr().err
    assert choice.files[1].read_text() == SHAPE_FILE % "range"
    # from a URL laid out like SEMIC's release site (a mirror)
    with PortalServer() as mirror:
        for name in ("shapes", "range"):
            mirror.add(f"/releases/3.0.1/html/shacl/{name}.ttl", SHAPE_FILE % f"mirror-{name}", "text/turtle")
        assert cli_main(["install-shapes", *common, mirror.url("/releases/")]) == 0
        assert len(mirror.log) == 2
    assert "mirror-range" in shacl.resolve_shapes("dcat-ap-3.0.1", data_dir=data).files[1].read_text()
    assert "fetched from http://127.0.0.1" in (data / "shapes" / "dcat-ap-3.0.1" / "SOURCE").read_text()


@needs_shapes
def test_the_shipped_shapes_are_semics_own():
    """The DCAT-AP 3.0.0 shapes shipped with fedcat (validation/official, from a PyPI package) are SEMIC's
    consolidated file: the same triples, only three descriptions' no-break spaces made plain spaces."""
    import rdflib

    def triples(path, fmt: str) -> set:
        graph = rdflib.Graph().parse(path, format=fmt)
        return {
            (
                s,
                p,
                rdflib.Literal(str(o).replace("\xa0", " "), lang=o.language)
                if isinstance(o, rdflib.Literal) and o.language
                else o,
            )
            for s, p, o in graph
        }

    [shipped] = shacl.SHIPPED["dcat-ap-3.0.0"]
    semic = triples(SHAPES / "dcat-ap-3.0.0" / "shacl_dcat-ap-SHACL.ttl", "turtle")
    assert triples(shipped, "json-ld") == semic and len(semic) > 1900
    assert shacl.resolve_shapes("dcat-ap-3.0.0", data_dir=None).files == [shipped]


def test_a_conforming_catalogue_is_said_to_conform_without_empty_tables():
    from rich.console import Console

    console = Console(width=120, record=True, file=io.StringIO())
    console.print(shacl.report_tables(shacl.Report("dcat-ap-3.0.1", datasets=5, shapes="core"), [], {}))
    printed = console.export_text()
    assert "All 5 datasets conform." in printed
    assert "Violations per rule" not in printed and "Datasets with violations" not in printed
