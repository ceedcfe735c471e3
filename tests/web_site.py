"""A small federation for the web pages' tests: two DCAT portals on 127.0.0.1 harvested into a real store and
index, a registry of public bodies for the audit, and the app served by uvicorn on 127.0.0.1 (for the browser).

45 datasets about bikes ("vélo") so that the search pages, one published by both portals (the same IRI: a
federated copy), and one whose description is hostile (script, event handler, javascript: link).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
import yaml
from fastapi import FastAPI
from fedcat.api.app import create_app
from fedcat.demo.portal import PortalServer
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import Config, parse_config
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.store import Store, discovery, record_id

THEME = "http://publications.europa.eu/resource/authority/data-theme/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
LO = "https://www.etalab.gouv.fr/licence-ouverte-open-licence"
SHARED_IRI = "https://opendata.example/datasets/velo-routes"
HOSTILE_IRI = "https://ville.example/datasets/hostile"
HOSTILE_DESCRIPTION = (
    "Comptages **vélo** au format [CSV](https://ville.example/files/velo.csv).\n\n"
    '<div><p>Texte <b>ArcGIS</b></p><script>window.__pwned = "script"</script>'
    '<img src="x" onerror="window.__pwned = \'onerror\'">'
    "<a href=\"javascript:window.__pwned='link'\">piège</a>"
    '<p style="background:url(javascript:alert(1))" onclick="window.__pwned=\'click\'">fin</p></div>'
)


def _lit(text: str, lang: str | None = None) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"' + (f"@{lang}" if lang else "")


def _dataset(
    iri: str, title: str, description: str, theme: str, fmt: str, modified: str, publisher: str
) -> str:
    return (
        f"<{iri}> a dcat:Dataset ; dct:identifier {_lit(iri.rsplit('/', 1)[-1])} ;\n"
        f"  dct:title {_lit(title, 'fr')} ; dct:description {_lit(description, 'fr')} ;\n"
        f"  dcat:theme <{THEME}{theme}> ; dcat:keyword {_lit('vélo', 'fr')}, {_lit('mobilité', 'fr')} ;\n"
        f"  dct:publisher [ a foaf:Agent ; foaf:name {_lit(publisher)} ] ;\n"
        f'  dct:modified "{modified}"^^xsd:date ; dct:license <{LO}> ;\n'
        f"  dcat:landingPage <{iri}/page> ;\n"
        f"  dcat:distribution [ a dcat:Distribution ; dct:format <{FILE_TYPE}{fmt}> ; "
        f'dcat:downloadURL <{iri}/files/data.{fmt.lower()}> ; dcat:byteSize "123456"^^xsd:nonNegativeInteger ] .\n'
    )


def catalogue(host: str, publisher: str, count: int, extra: list[str]) -> str:
    iris = [f"https://{host}/datasets/velo-{n}" for n in range(count)]
    body = [
        "@prefix dcat: <http://www.w3.org/ns/dcat#> .",
        "@prefix dct: <http://purl.org/dc/terms/> .",
        "@prefix foaf: <http://xmlns.com/foaf/0.1/> .",
        "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .",
        f"<https://{host}/> a dcat:Catalog ; dct:title {_lit('Catalogue ' + host, 'fr')} ;",
        "  dcat:dataset " + ", ".join(f"<{i}>" for i in [*iris, *extra]) + " .",
    ]
    for n, iri in enumerate(iris):
        theme = "TRAN" if n % 3 else "ENVI"
        fmt = ("CSV", "JSON", "GEOJSON")[n % 3]
        body.append(
            _dataset(iri, f"Comptage vélo n°{n} ({host})", f"Passages de vélos au point {n}.", theme, fmt,
                     f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}", publisher)
        )  # fmt: skip
    return "\n".join(body) + "\n"


@dataclass
class WebSite:
    config: Config
    store: Store
    backend: EmbeddedBackend
    app: FastAPI

    def id_of(self, source: str, iri: str) -> str:
        return record_id(source, iri)


DISCOVERED = {
    "id": "data-villeneuvedascq-example-opendatasoft", "name": "data.villeneuvedascq.example",
    "type": "opendatasoft", "url": "https://data.villeneuvedascq.example",
    "jurisdiction": {"level": "commune", "code": "59009"},
    "found_on": "https://www.villeneuvedascq.example/open-data", "confirmed": True,
    "probe": "Opendatasoft Explore API v2.1 answered (42 datasets)",
}  # fmt: skip


def bodies(directory: Path) -> Path:
    path = directory / "bodies.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "bodies": [
                    {"id": "commune:59350", "name": "Lille", "kind": "commune", "population": 236234,
                     "parent": "epci:200093201"},
                    {"id": "epci:200093201", "name": "Métropole Européenne de Lille", "kind": "epci",
                     "population": 1194040, "parent": "departement:59"},
                    {"id": "departement:59", "name": "Nord", "kind": "departement", "parent": "region:32"},
                    {"id": "region:32", "name": "Hauts-de-France", "kind": "region"},
                    {"id": "commune:59643", "name": "Warneton", "kind": "commune", "population": 240,
                     "parent": "epci:200093201"},
                    # no dataset harvested; its website links to a portal not harvested yet (DISCOVERED)
                    {"id": "commune:59009", "name": "Villeneuve-d'Ascq", "kind": "commune", "population": 62067},
                ]
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )  # fmt: skip
    return path


@contextmanager
def web_site(tmp: Path) -> Iterator[WebSite]:
    with PortalServer() as portal:
        shared = _dataset(SHARED_IRI, "Véloroutes (copie fédérée)", "Itinéraires vélo.", "TRAN", "GEOJSON",
                          "2023-05-01", "Région exemple")  # fmt: skip
        hostile = _dataset(HOSTILE_IRI, "Jeu hostile vélo", HOSTILE_DESCRIPTION, "TRAN", "CSV", "2022-01-01",
                           "Ville de Lille")  # fmt: skip
        portal.add(
            "/ville/catalog.ttl",
            catalogue("ville.example", "Ville de Lille", 30, [SHARED_IRI, HOSTILE_IRI]) + shared + hostile,
        )
        portal.add(
            "/metro/catalog.ttl",
            catalogue("metro.example", "Métropole Européenne de Lille", 15, [SHARED_IRI]) + shared,
        )
        config = parse_config(
            {
                "settings": {
                    "base_url": "http://127.0.0.1",
                    "http": {"retries": 0, "backoff": 0},
                    "bodies": [str(bodies(tmp))],
                },
                "sources": [
                    {"id": "ville", "name": "Open data Lille", "type": "dcat", "url": portal.url("/ville/catalog.ttl"),
                     "jurisdiction": {"level": "commune", "code": "59350", "name": "Lille"}, "schedule": "0 3 * * *"},
                    {"id": "metro", "name": "Open data MEL", "type": "dcat", "url": portal.url("/metro/catalog.ttl"),
                     "jurisdiction": {"level": "epci", "code": "200093201"}},
                ],
            },
            tmp / "sources.yaml",
        )  # fmt: skip
        store = Store(tmp / "fedcat.db")
        backend = EmbeddedBackend(tmp / "index")
        results = harvest(config, store, backend)
        assert all(r.status == "complete" for r in results), [(r.source_id, r.status) for r in results]
        # what `fedcat discover --bodies … --save` would have kept: Lille's website links to its harvested
        # catalogue, Villeneuve-d'Ascq's to a portal not harvested yet
        discovery.save(store, "commune:59350", {"url": "https://www.lille.example/", "complete": True,
                       "reasons": [], "sources": [{"type": "dcat", "url": portal.url("/ville/catalog.ttl"),
                       "found_on": "https://www.lille.example/donnees", "confirmed": True,
                       "probe": "an RDF document using the DCAT vocabulary"}]})  # fmt: skip
        discovery.save(store, "commune:59009", {"url": "https://www.villeneuvedascq.example/", "complete": False,
                       "reasons": ["page cap (200) reached"], "sources": [DISCOVERED]})  # fmt: skip
        try:
            yield WebSite(config, store, backend, create_app(store, backend, config))
        finally:
            backend.close()
            store.close()


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 (a real uvicorn server in a thread); yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
