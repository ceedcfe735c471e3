"""`fedcat demo`: a local example portal, harvested, link-checked and served, in one command.

The portal serves the catalogues and every file they list (links from the API open something); dataset IRIs
sit under fixed example hosts, so fedcat's ids are the same on every run (the README's examples resolve);
a registry of public bodies ships with it so that the audit answers; without `--data-dir` the data lives in
a temporary directory removed on exit.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import yaml
from rich.console import Console

from ..catalogue import Catalogue
from ..harvester.run import RunResult
from .catalogues import (
    CONTENT_TYPES,
    city_datasets,
    file_body,
    hydra_pages,
    metropolis_datasets,
    vary_completeness,
)
from .portal import PortalServer, Reply, Request

console = Console(stderr=True)
BODIES = Path(__file__).with_name("bodies.yaml")
CITY_IRIS, METROPOLIS_IRIS = "https://ville.example.org", "https://metropole.example.org"
EXAMPLE_DATASET = "ville-exemple-aa66a0fc8d4c63f1"  # "velos-libre-service": the README's example id


def _files(request: Request) -> Reply:
    """Any listed file, by its name's extension; a landing page for /explore/."""
    name = request.path.rsplit("/", 1)[-1]
    if "/explore/" in request.path:
        html = f"<!doctype html><title>{name}</title><h1>{name}</h1><p>Jeu de données d'exemple.</p>"
        return Reply(html.encode(), "text/html; charset=utf-8")
    return Reply(
        file_body(request.path), CONTENT_TYPES.get(name.rpartition(".")[2], "application/octet-stream")
    )


def start_demo_portal() -> tuple[PortalServer, list[dict]]:
    """Serve the example catalogues and their files on 127.0.0.1; returns the server and the sources."""
    portal = PortalServer().start()
    city_base, metro_base = portal.url("/ville"), portal.url("/metropole")
    city = vary_completeness(city_datasets(city_base, CITY_IRIS))
    metropolis = vary_completeness(metropolis_datasets(metro_base, METROPOLIS_IRIS))
    for number, body in hydra_pages(city, city_base + "/catalog.ttl?page=%d", 5).items():
        portal.add(f"/ville/catalog.ttl?page={number}", body, "text/turtle")
    for number, body in hydra_pages(metropolis, metro_base + "/catalog.rdf?page=%d", 50, fmt="rdf").items():
        portal.add(f"/metropole/catalog.rdf?page={number}", body, "application/rdf+xml")
    for prefix in ("/ville/files/", "/ville/explore/", "/metropole/files/", "/metropole/explore/"):
        portal.handle(prefix, _files)
    sources = [
        {
            "id": "ville-exemple",
            "name": "Ville de Lille (exemple)",
            "type": "dcat",
            "url": city_base + "/catalog.ttl?page=1",
            "jurisdiction": {"level": "commune", "code": "59350"},
            "schedule": "0 3 * * *",
        },
        {
            "id": "metropole-exemple",
            "name": "Métropole Européenne de Lille (exemple)",
            "type": "dcat",
            "url": metro_base + "/catalog.rdf?page=1",
            "jurisdiction": {"level": "epci", "code": "200093201"},
            "schedule": "30 3 * * *",
        },
    ]
    return portal, sources


def free_port(preferred: int, host: str = "127.0.0.1") -> int:
    """`preferred` when nothing listens on it, else a port the system picks."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError(f"no free port on {host}")


@contextmanager
def _data_dir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="fedcat-demo-") as temporary:
        yield Path(temporary)


def run_demo(
    port: int,
    data_dir: Path | None,
    serve_api: bool,
    *,
    run_harvest: Callable[[Catalogue], list[RunResult]],
    print_summary: Callable[[list[RunResult]], None],
    serve: Callable[[Catalogue, str, int], None],
) -> int:
    """The demo, with the CLI's own harvest, summary and server (given by the CLI, which sits above)."""
    from ..harvester.linkcheck import linkcheck
    from ..indexer.documents import sync_index

    chosen = free_port(port)
    if chosen != port:
        console.print(f"[yellow]port {port} is taken: the API will be on port {chosen} (or give --port)[/]")
    api = f"http://127.0.0.1:{chosen}"
    with _data_dir(data_dir) as directory:
        portal, sources = start_demo_portal()
        config_path = directory / "demo-sources.yaml"
        settings = {"base_url": api, "bodies": [str(BODIES)]}
        config_path.write_text(
            yaml.safe_dump({"settings": settings, "sources": sources}, allow_unicode=True, sort_keys=False)
        )
        console.print(f"Example portal on {portal.base_url}; data dir {directory}", soft_wrap=True)
        catalogue = Catalogue.open(config_path, directory)
        try:
            results = run_harvest(catalogue)
            print_summary(results)
            # the portal's files answer: the scores credit links checked as reachable
            linkcheck(catalogue.store, [s["id"] for s in sources], rate=500, max_age=timedelta(0),
                      allow_private=lambda source_id: True)  # fmt: skip
            sync_index(catalogue.store, catalogue.backend)
            if not serve_api:
                return 1 if any(r.status == "failed" for r in results) else 0
            theme = "http://publications.europa.eu/resource/authority/data-theme/TRAN"
            console.print(
                f"\n[bold]fedcat is serving {catalogue.store.count()} datasets on {api}[/bold]\n"
                f"  web:      {api}/ (search, datasets, sources, quality, obligations; French and English)\n"
                f"  search:   curl '{api}/api/datasets?q=velo'\n"
                f"  facets:   curl '{api}/api/datasets?theme={theme}&facets=publisher,format'\n"
                f"  dataset:  curl '{api}/api/datasets/{EXAMPLE_DATASET}'\n"
                f"  quality:  curl '{api}/api/quality?group_by=publisher'\n"
                f"  audit:    curl '{api}/api/audit'\n"
                f"  sources:  curl '{api}/api/sources'\n"
                f"  API docs: {api}/docs\n"
                "Press Ctrl-C to stop.",
                soft_wrap=True,
            )
            serve(catalogue, "127.0.0.1", chosen)
        finally:
            catalogue.close()
            portal.stop()
    return 0
