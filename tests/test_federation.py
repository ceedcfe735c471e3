"""Federation end to end: a real store, the federation view, the embedded index and the API.

A dataset of the Ville de Lille published on the MEL's Opendatasoft portal, mirrored by a national udata
portal (its harvest block: the origin's record id and page) and by a DCAT catalogue under another IRI that
names the udata record in adms:identifier; a dataset of the same title from another publisher.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import msgspec
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.config import Federation
from fedcat.harvester.sources import parse_config
from fedcat.indexer.backend import SearchQuery
from fedcat.indexer.documents import sync_index
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.mappings.model import Agent, Dataset, Distribution, Text, dataset_to_json
from fedcat.store import Store, Upsert, payload_hash, record_id

ODS_PAGE = "https://data.lillemetropole.fr/explore/dataset/comptages-velo/"
UDATA_ID = "5f3a9c0e8b1d2e0012345678"


def _dataset(source: str, title: str, publisher: str, **fields) -> Dataset:
    return Dataset(
        uri=f"https://fedcat.example/d/{source}/{quote(title)}",
        title=[Text(title, "fr")],
        publisher=Agent(name=[Text(publisher)]),
        **{"distributions": [Distribution(format="CSV")], **fields},
    )


COPIES = {
    "mel": (
        "comptages-velo",
        _dataset(
            "mel", "Comptages vélo", "Ville de Lille", identifier=["comptages-velo"], landing_page=[ODS_PAGE]
        ),
    ),
    "national": (
        UDATA_ID,
        _dataset(
            "national",
            "COMPTAGES VELO",
            "Ville de Lille",
            identifier=[UDATA_ID],
            other_identifier=["comptages-velo"],
            landing_page=[
                ODS_PAGE.replace("https", "http").rstrip("/"),
                f"https://www.data.gouv.fr/datasets/{UDATA_ID}/",
            ],
        ),
    ),
    "eu": (
        "https://data.europa.eu/88/abc",
        _dataset(
            "eu",
            "Comptages vélo (Lille)",
            "Lille",
            original_uri="https://data.europa.eu/88/abc",
            other_identifier=[UDATA_ID],
        ),
    ),
}
OTHER = (
    "roubaix-velo",
    _dataset("region", "Comptages vélo", "Ville de Roubaix", identifier=["roubaix-velo"]),
)


def _write(store: Store, source: str, records: list[tuple[str, Dataset]]) -> int:
    run = store.start_run(source)
    upserts = []
    for source_record_id, dataset in records:
        payload = dataset_to_json(dataset)
        upserts.append(
            Upsert(
                id=record_id(source, source_record_id),
                source_record_id=source_record_id,
                dataset=dataset,
                raw=payload,
                raw_media_type="application/json",
                raw_hash=payload_hash(payload),
                fetch_url=f"https://{source}.example/page",
            )
        )
    store.save_page(source, run, upserts, [])
    return run


def _withdraw(store: Store, source: str) -> None:
    run = store.start_run(source)  # a complete run that saw nothing of the source
    store.withdraw_unseen(source, run, 1.0, force=True)


def _config(**settings):
    return parse_config(
        {
            "settings": {"base_url": "https://fedcat.example", **settings},
            "sources": [
                {"id": s, "name": s.upper(), "type": "dcat", "url": f"https://{s}.example/catalog.ttl"}
                for s in ("mel", "national", "eu", "region")
            ],
        }
    )


def _site(tmp_path: Path):
    config = _config()
    store, backend = Store(tmp_path / "fedcat.db"), EmbeddedBackend(tmp_path / "index")
    store.sync_sources(config.sources)
    for source, (sid, dataset) in COPIES.items():
        _write(store, source, [(sid, dataset)])
    _write(store, "region", [OTHER])
    sync_index(store, backend)
    return store, backend, TestClient(create_app(store, backend, config))


def test_three_copies_are_one_hit_with_three_sources(tmp_path: Path) -> None:
    store, backend, client = _site(tmp_path)
    body = client.get("/api/datasets", params={"q": "comptages"}).json()
    assert body["total"] == 2  # the Lille dataset once, Roubaix's apart
    lille = next(i for i in body["items"] if len(i["sources"]) > 1)
    assert sorted(s["source"] for s in lille["sources"]) == ["eu", "mel", "national"]
    assert lille["sources"][0]["id"] == lille["id"]  # the canonical copy first
    assert all(s["last_seen"] for s in lille["sources"])
    roubaix = next(i for i in body["items"] if len(i["sources"]) == 1)
    assert roubaix["sources"][0]["source"] == "region"
    # facets count clusters: each source once, the Lille dataset once though three copies
    sources = {f["value"]: f["count"] for f in body["facets"]["source"]}
    assert sources == {"mel": 1, "national": 1, "eu": 1, "region": 1}
    # any copy shows its cluster and the evidence of each link
    eu_id = record_id("eu", COPIES["eu"][0])
    record = client.get(f"/api/datasets/{eu_id}").json()
    assert record["cluster"]["id"] == lille["id"]
    rules = {e[2] for e in record["cluster"]["evidence"]}
    assert "same-identifier" in rules and ({"harvest-provenance", "same-landing-page"} & rules)
    # the RDF of a copy names the others as the same dataset, and the catalogues they come from
    national_uri = COPIES["national"][1].uri
    mel_uri = COPIES["mel"][1].uri
    triples = client.get(f"/datasets/{eu_id}.nt").text
    same_as = "<http://www.w3.org/2002/07/owl#sameAs>"
    assert f"{same_as} <{national_uri}>" in triples and f"{same_as} <{mel_uri}>" in triples
    # review: who mirrors whom
    review = client.get("/api/duplicates", params={"source": "mel"}).json()
    pairs = {(p["a"], p["b"]): p["shared"] for p in review["pairs"]}
    assert pairs[("mel", "national")] == 1 and pairs[("eu", "mel")] == 1
    assert [len(c["sources"]) for c in review["clusters"]] == [3]
    backend.close()
    store.close()


DCT, OWL, ADMS = "http://purl.org/dc/terms/", "http://www.w3.org/2002/07/owl#", "http://www.w3.org/ns/adms#"
NOTATION = "<http://www.w3.org/2004/02/skos/core#notation>"


def test_copies_link_to_their_canonical_copy_in_rdf(tmp_path: Path, monkeypatch, corpus: Path) -> None:
    from fedcat.export import export
    from fedcat.mappings.catalog_rdf import catalog_info

    store, backend, client = _site(tmp_path)
    lille = client.get("/api/datasets", params={"q": "comptages", "source": "eu"}).json()["items"][0]
    canonical_source = lille["sources"][0]["source"]
    canonical = COPIES[canonical_source][1]
    canonical_uri = canonical.uri
    copy_source = next(s for s in ("mel", "national") if s != canonical_source)
    copy = COPIES[copy_source][1]
    copy_id = record_id(copy_source, COPIES[copy_source][0])
    links = [
        f"<{copy.uri}> <{DCT}source> <{canonical_uri}>",
        f"<{copy.uri}> <{OWL}sameAs> <{canonical_uri}>",
    ]
    document = client.get(f"/datasets/{copy_id}.nt").text
    assert all(link in document for link in links)
    assert f"<{canonical_uri}> <{DCT}title>" in document  # a dcat:Dataset as the shapes want it
    # the canonical's identifiers the copy does not carry itself become its adms:identifier
    carried = {*copy.identifier, *copy.other_identifier}
    wanted = [i for i in canonical.identifier if i not in carried] + [canonical.original_uri or ""]
    assert [i for i in wanted if i and f'{NOTATION} "{i}"' not in document] == []
    assert any(wanted)
    # the canonical copy derives from no other copy
    own = client.get(f"/datasets/{lille['id']}.nt").text
    assert f"<{canonical_uri}> <{DCT}source>" not in own
    # the whole-catalogue export links them the same way, the canonical described once (by its own record)
    out = tmp_path / "export.nt"
    with out.open("wb") as fh:
        export(store.path, catalog_info(_config()), fh, "nt", workers=1)
    dump = out.read_text(encoding="utf-8")
    assert all(link in dump for link in links)
    title = next(line for line in own.splitlines() if line.startswith(f"<{canonical_uri}> <{DCT}title>"))
    assert dump.count(title) == 1
    # and the document stays valid: the link's target is a dcat:Dataset with a title and a description
    shapes = corpus / "shapes" / "dcat-ap-3.0.1"
    if shapes.is_dir():
        monkeypatch.setenv("FEDCAT_SHAPES_DIR", str(shapes))
        report = client.get(f"/datasets/{copy_id}/validation").json()
        assert report["counts"]["fedcat"] == 0, report
    backend.close()
    store.close()


def test_withdrawing_copies_keeps_then_removes_the_hit(tmp_path: Path) -> None:
    store, backend, client = _site(tmp_path)
    _withdraw(store, "mel")
    sync_index(store, backend)
    result = backend.search(SearchQuery(q="comptages", filters={"source": ["national"]}))
    assert result.total == 1
    hit = client.get("/api/datasets", params={"q": "comptages", "source": "national"}).json()["items"][0]
    assert sorted(s["source"] for s in hit["sources"]) == ["eu", "national"]
    _withdraw(store, "national")
    _withdraw(store, "eu")
    sync_index(store, backend)
    assert backend.search(SearchQuery(q="comptages")).total == 1  # Roubaix's only
    assert backend.search(SearchQuery(q="comptages", filters={"source": ["eu"]})).total == 0
    backend.close()
    store.close()


def test_forced_split_separates_copies(tmp_path: Path) -> None:
    store, backend, _client = _site(tmp_path)
    overrides = tmp_path / "overrides.yaml"
    eu_id = record_id("eu", COPIES["eu"][0])
    national_id = record_id("national", COPIES["national"][0])
    overrides.write_text(f"split:\n  - [{eu_id}, {national_id}]\n")
    settings = replace(_config().settings, federation=Federation(overrides=overrides))
    sync_index(store, backend, settings=settings)  # the edited file re-clusters the records it names
    assert backend.search(SearchQuery(q="comptages")).total == 3  # mel+national, eu, roubaix
    overrides.write_text("split: []\n")
    sync_index(store, backend, settings=replace(settings))
    assert backend.search(SearchQuery(q="comptages")).total == 2  # the split undone
    backend.close()
    store.close()


# --- jurisdictions as a hierarchy ----------------------------------------------------------------------

MEL = "epci:200093201"
AREA_RECORDS = {  # source -> (record id, publisher or None)
    "mel": [("lille-arbres", "Ville de Lille"), ("roubaix-bancs", "Ville de Roubaix"), ("mel-voirie", None)],
    "pdc": [("lens-ecoles", "Ville de Lens")],
    "nord": [("asso-jardins", "Association des jardins partagés")],
}


def _area_site(tmp_path: Path, corpus: Path):
    bodies = sorted(str(p) for p in (corpus / "bodies").glob("decoupage-administratif-*.json"))
    areas = {"mel": ("epci", "200093201"), "pdc": ("departement", "62"), "nord": ("departement", "59")}
    config = parse_config(
        {
            "settings": {"base_url": "https://fedcat.example", "bodies": bodies},
            "sources": [
                {
                    "id": s,
                    "name": s.upper(),
                    "type": "dcat",
                    "url": f"https://{s}.example/catalog.ttl",
                    "jurisdiction": {"level": level, "code": code},
                }
                for s, (level, code) in areas.items()
            ],
        }
    )
    store, backend = Store(tmp_path / "fedcat.db"), EmbeddedBackend(tmp_path / "index")
    store.sync_sources(config.sources)
    for source, records in AREA_RECORDS.items():
        _write(
            store,
            source,
            [
                (sid, _dataset(source, sid.replace("-", " "), publisher or "", identifier=[sid]))
                if publisher
                else (sid, Dataset(uri=f"https://fedcat.example/d/{sid}", title=[Text(sid)]))
                for sid, publisher in records
            ],
        )
    sync_index(store, backend, settings=config.settings)
    return store, backend, TestClient(create_app(store, backend, config))


def test_jurisdiction_filter_matches_the_area_and_everything_inside(tmp_path: Path, corpus: Path) -> None:
    import json

    store, backend, client = _area_site(tmp_path, corpus)
    epci = next(
        e
        for p in (corpus / "bodies").glob("*-epci.json")
        for e in json.loads(p.read_text(encoding="utf-8"))
        if e["code"] == "200093201"
    )
    members = {m["nom"] for m in epci["membres"]}
    # counted from the EPCI file itself: its communes' records, and the record of the EPCI's own portal
    # without a publisher
    expected = {
        sid
        for records in AREA_RECORDS.values()
        for sid, publisher in records
        if (publisher and publisher.removeprefix("Ville de ") in members) or sid == "mel-voirie"
    }
    assert expected == {"lille-arbres", "roubaix-bancs", "mel-voirie"}
    body = client.get("/api/datasets", params={"jurisdiction": MEL, "page_size": 50}).json()
    assert {store.record(i["id"])["source_record_id"] for i in body["items"]} == expected
    # the département of the Nord holds the MEL, and the unmatched publisher of the Nord's own source
    nord = client.get("/api/datasets", params={"jurisdiction": "departement:59"}).json()
    assert nord["total"] == 4
    assert client.get("/api/datasets", params={"jurisdiction": "country:FR"}).json()["total"] == 5
    assert client.get("/api/datasets", params={"jurisdiction": "commune:62498"}).json()["total"] == 1
    facet = {f["value"]: f for f in body["facets"]["jurisdiction"]}
    assert facet[MEL]["label"] == "Métropole Européenne de Lille"
    assert facet[MEL]["level"] == "epci" and facet[MEL]["count"] == 3
    assert facet["commune:59350"]["label"] == "Lille"
    backend.close()
    store.close()


def test_cli_duplicates(tmp_path: Path, capsys) -> None:
    import csv
    import io
    import json

    import yaml
    from fedcat import cli

    config_path, data_dir = tmp_path / "sources.yaml", tmp_path / "data"
    config_path.write_text(
        yaml.safe_dump(
            {
                "settings": {"base_url": "https://fedcat.example"},
                "sources": [
                    {"id": s, "name": s.upper(), "type": "dcat", "url": f"https://{s}.example/catalog.ttl"}
                    for s in ("mel", "national", "eu", "region")
                ],
            }
        )
    )
    store = Store(data_dir / "fedcat.db")
    for source, (sid, dataset) in COPIES.items():
        _write(store, source, [(sid, dataset)])
    _write(store, "region", [OTHER])
    store.close()
    common = ["--config", str(config_path), "--data-dir", str(data_dir)]
    assert cli.main(["duplicates", "--format", "json", *common]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [sorted(c["source"] for c in cluster["sources"]) for cluster in body["clusters"]] == [
        ["eu", "mel", "national"]
    ]
    shares = {(p["a"], p["b"]): p["share_of_a"] for p in body["pairs"]}
    assert shares[("mel", "national")] == 1.0  # the national portal mirrors all of the MEL's datasets
    assert cli.main(["duplicates", "--format", "csv", "--source", "region", *common]) == 0
    assert list(csv.DictReader(io.StringIO(capsys.readouterr().out))) == []  # Roubaix's stands alone
    assert cli.main(["duplicates", "--format", "csv", *common]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["rank"] for r in rows] == ["0", "1", "2"] and all(r["rule"] for r in rows)
    assert cli.main(["duplicates", *common]) == 0  # the table
    assert "national" in capsys.readouterr().err  # rich tables go to the console (stderr), as audit.s


def test_canonical_copy_is_the_publishers_own_source(tmp_path: Path, corpus: Path) -> None:
    bodies = sorted(str(p) for p in (corpus / "bodies").glob("decoupage-administratif-*.json"))
    config = parse_config(
        {
            "settings": {"base_url": "https://fedcat.example", "bodies": bodies},
            "sources": [
                {
                    "id": "lille",
                    "name": "Lille",
                    "type": "dcat",
                    "url": "https://lille.example/catalog.ttl",
                    "jurisdiction": {"level": "commune", "code": "59350"},
                },
                {
                    "id": "aggregator",
                    "name": "Aggregator",
                    "type": "dcat",
                    "url": "https://national.example/c.ttl",
                },
            ],
        }
    )
    store, backend = Store(tmp_path / "fedcat.db"), EmbeddedBackend(tmp_path / "index")
    store.sync_sources(config.sources)
    page = "https://opendata.lille.fr/explore/dataset/arbres/"
    # the aggregator's copy: seen first, richer, its id first: still not canonical, the city's own portal is
    _write(
        store,
        "aggregator",
        [
            (
                "n1",
                _dataset(
                    "aggregator",
                    "Arbres",
                    "Mairie de Lille",
                    landing_page=[page],
                    description=[Text("Les arbres d'alignement de la ville, leur essence et leur âge.")],
                ),
            )
        ],
    )
    _write(store, "lille", [("arbres", _dataset("lille", "Arbres", "Ville de Lille", landing_page=[page]))])
    sync_index(store, backend, settings=config.settings)
    result = backend.search(SearchQuery(q="arbres"))
    assert result.ids == [record_id("lille", "arbres")]
    backend.close()
    store.close()


def test_a_copy_indexed_during_a_harvest_stays_in_its_cluster(tmp_path: Path) -> None:
    from fedcat.indexer.documents import IndexFeed

    store, backend, _client = _site(tmp_path)
    sid, dataset = COPIES["national"]
    edited = msgspec.structs.replace(dataset, description=[Text("Mis à jour par le portail national")])
    run = store.start_run("national")
    written = store.save_page(
        "national",
        run,
        [Upsert(record_id("national", sid), sid, edited, b"{}", "application/json", payload_hash(b"x"), "")],
        [],
    )
    feed = IndexFeed(store, backend)  # what a harvest does page by page, before its sync
    feed.add("national", None, [(i, v, edited) for i, v in written])
    feed.flush()
    assert backend.search(SearchQuery(q="comptages")).total == 2  # no hit of its own, even before the sync
    sync_index(store, backend)
    assert backend.search(SearchQuery(q="comptages")).total == 2
    assert backend.search(SearchQuery(q="portail national")).total == 1  # the cluster found by the new text
    backend.close()
    store.close()


def test_other_settings_recluster_the_store(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from fedcat.federation import view
    from fedcat.store.federation import FederationTables

    store = Store(tmp_path / "fedcat.db")
    store.sync_sources(_config().sources)
    _write(store, "mel", [("a", _dataset("mel", "Arbres remarquables", "Ville de Lille"))])
    _write(store, "national", [("b", _dataset("national", "Arbre remarquable", "Ville de Lille"))])
    a, b = record_id("mel", "a"), record_id("national", "b")
    view.catch_up(store)
    tables = FederationTables(store)
    assert len(set(tables.clusters_of([a, b]).values())) == 1  # near-identical titles: one cluster
    exact = SimpleNamespace(federation=Federation(title_similarity=1.0))
    view.catch_up(store, exact)  # nothing in the feed: the new setting alone re-clusters
    assert len(set(tables.clusters_of([a, b]).values())) == 2
    view.catch_up(store)
    assert len(set(tables.clusters_of([a, b]).values())) == 1
    store.close()


def test_settings_federation_is_checked(tmp_path: Path) -> None:
    import pytest
    from fedcat.harvester.sources import ConfigError

    settings = _config(federation={"overrides": "fed.yaml", "threshold": 0.9, "title_similarity": 1}).settings
    assert settings.federation.threshold == 0.9 and settings.federation.overrides.name == "fed.yaml"
    assert settings.federation.title_similarity == 1.0
    for bad, says in (
        ({"title_similarity": -0.1}, "settings.federation.title_similarity"),
        ({"threshold": 2}, "settings.federation.threshold"),
        ({"threshold": True}, "settings.federation.threshold"),
        ({"overides": "x.yaml"}, "settings.federation: expected"),
        ({"overrides": "https://example.org/o.yaml"}, "settings.federation.overrides"),
    ):
        with pytest.raises(ConfigError) as raised:
            _config(federation=bad)
        assert any(says in problem for problem in raised.value.problems), raised.value.problems


# --- the whole-store clustering (bounded memory): the same clusters as clustering the facts at once -----


def _mixed_federation(store: Store) -> None:
    """Datasets of 3 sources, copied across them by each kind of evidence, with same-title negatives."""
    pages = {source: [] for source in ("mel", "national", "eu")}
    for n in range(60):
        title = f"{['Arbres', 'Budget primitif', 'Comptages vélo'][n % 3]} {2000 + n // 6}"
        publisher = f"Ville de Commune{n % 4}"
        page = f"https://mel.example/explore/dataset/d{n}/"
        files = [Distribution(format="CSV", download_url=[f"https://mel.example/exports/d{n}.csv"])]
        pages["mel"].append(
            (f"d{n}", _dataset("mel", title, publisher, landing_page=[page], distributions=files))
        )
        if n % 5 == 0:  # a mirror naming the origin's page
            pages["national"].append(
                (f"m{n}", _dataset("national", title.upper(), publisher, landing_page=[page]))
            )
        elif n % 5 == 1:  # the same files
            pages["eu"].append((f"f{n}", _dataset("eu", title, publisher, distributions=files)))
        elif n % 5 == 2:  # the last resort: publisher, near-identical title, formats
            pages["national"].append(
                (f"t{n}", _dataset("national", title.replace("Arbres", "Arbre"), publisher))
            )
        else:  # the same title from another publisher: not a copy
            pages["eu"].append((f"o{n}", _dataset("eu", title, "Ville de Roubaix")))
    for source, records in pages.items():
        _write(store, source, records)


def test_whole_store_clustering_matches_clustering_every_copy_at_once(tmp_path: Path) -> None:
    from fedcat.federation import view
    from fedcat.federation.cluster import cluster
    from fedcat.federation.keys import Copy
    from fedcat.federation.rules import default_rules, load_overrides
    from fedcat.store.federation import FederationTables

    store = Store(tmp_path / "fedcat.db")
    store.sync_sources(_config().sources)
    _mixed_federation(store)
    merged = (record_id("mel", "d3"), record_id("eu", "o3"))  # a same-title negative, merged by hand
    split = (record_id("mel", "d0"), record_id("national", "m0"))  # a mirror, split by hand
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(f"merge:\n  - [{merged[0]}, {merged[1]}]\nsplit:\n  - [{split[0]}, {split[1]}]\n")
    view.catch_up(store, SimpleNamespace(federation=Federation(overrides=overrides)))

    tables = FederationTables(store)
    decode = msgspec.msgpack.Decoder(Copy).decode
    copies = [decode(row[0]) for row in store.db.execute("SELECT facts FROM fed_copies")]
    expected = cluster(copies, default_rules(), load_overrides(overrides))
    members = {c.id: c.members for c in expected}
    stored: dict[str, list[str]] = {}
    for member, cluster_id in store.db.execute("SELECT id, cluster FROM fed_members ORDER BY cluster, rank"):
        stored.setdefault(cluster_id, []).append(member)
    assert stored == members  # the same clusters, the same canonical copy and order
    links = {(c.id, link.a, link.b, link.rule, link.confidence) for c in expected for link in c.links}
    assert set(map(tuple, store.db.execute("SELECT cluster, a, b, rule, confidence FROM fed_links"))) == links
    rules = {rule for *_ids, rule, _confidence in links}
    assert {"same-landing-page", "same-download", "same-publisher-title", "forced-merge"} <= rules
    assert len(set(tables.clusters_of(list(merged)).values())) == 1
    assert len(set(tables.clusters_of(list(split)).values())) == 2
    assert sum(len(m) > 1 for m in members.values()) >= 30  # most originals found with their copy
    store.close()


def test_whole_store_clustering_cut_short_after_its_facts_is_done_again(tmp_path: Path) -> None:
    from fedcat.federation import view
    from fedcat.federation.keys import copy_of
    from fedcat.store import feed
    from fedcat.store.federation import FULL_RUN, FederationTables

    store = Store(tmp_path / "fedcat.db")
    store.sync_sources(_config().sources)
    for source, (sid, dataset) in COPIES.items():
        _write(store, source, [(sid, dataset)])
    tables = FederationTables(store)
    # what a run killed after its first page of facts leaves: facts, the mark, no clusters, the cursor at 0
    rows = tables.live_records_after("", 2)
    tables.stage_facts(
        [
            (c.id, c.source, c.keys, msgspec.msgpack.encode(c), row["version"])
            for row in rows
            for c in [copy_of(row["id"], row["source_id"], msgspec.json.decode(row["dataset"], type=Dataset))]
        ]
    )
    tables.write_staged_facts()
    assert tables.state(FULL_RUN) == "pending" and not tables.clusters_of([r["id"] for r in rows])
    view.catch_up(store)
    ids = [record_id(source, sid) for source, (sid, _dataset) in COPIES.items()]
    assert len(set(tables.clusters_of(ids).values())) == 1  # the three copies: one cluster
    assert tables.state(FULL_RUN) is None
    assert feed.cursor(store, view.FederationView.name) == feed.head(store)  # past its own `rescored` entries
    rescored = {row[0] for row in store.db.execute("SELECT id FROM changes WHERE kind = 'rescored'")}
    assert rescored == set(ids)  # the search index rewrites the cluster's one document
    store.close()
