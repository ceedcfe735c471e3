"""`fedcat demo`: a local example portal, harvested and served, in one command."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml
from rich.console import Console

from ..catalogue import Catalogue
from ..harvester.run import RunResult
from .catalogues import city_datasets, hydra_pages, metropolis_datasets
from .portal import PortalServer

console = Console(stderr=True)


def start_demo_portal() -> tuple[PortalServer, list[dict]]:
    """Serve the example catalogues on 127.0.0.1; returns the server and the sources.yaml entries."""
    portal = PortalServer().start()
    city_base, metro_base = portal.url("/ville"), portal.url("/metropole")
    for number, body in hydra_pages(city_datasets(city_base), city_base + "/catalog.ttl?page=%d", 5).items():
        portal.add(f"/ville/catalog.ttl?page={number}", body, "text/turtle")
    for number, body in hydra_pages(
        metropolis_datasets(metro_base), metro_base + "/catalog.rdf?page=%d", 50, fmt="rdf"
    ).items():
        portal.add(f"/metropole/catalog.rdf?page={number}", body, "application/rdf+xml")
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
    data_dir = Path(data_dir or tempfile.mkdtemp(prefix="fedcat-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    portal, sources = start_demo_portal()
    config_path = data_dir / "demo-sources.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {"settings": {"base_url": f"http://127.0.0.1:{port}"}, "sources": sources},
            allow_unicode=True,
            sort_keys=False,
        )
    )
    console.print(f"Example portal on {portal.base_url}; data dir {data_dir}")
    catalogue = Catalogue.open(config_path, data_dir)
    try:
        results = run_harvest(catalogue)
        print_summary(results)
        if not serve_api:
            return 1 if any(r.status == "failed" for r in results) else 0
        api = f"http://127.0.0.1:{port}"
        console.print(
            f"\n[bold]fedcat is serving {catalogue.store.count()} datasets[/bold]\n"
            f"  web:      {api}/ (search, datasets, sources, quality, obligations; French and English)\n"
            f"  search:   curl '{api}/api/datasets?q=velo'\n"
            f"  facets:   curl '{api}/api/datasets?theme=http://publications.europa.eu/resource/authority/data-theme/TRAN'\n"
            f"  sources:  curl '{api}/api/sources'\n"
            f"  API docs: {api}/docs\n"
            "Press Ctrl-C to stop.",
            soft_wrap=True,
        )
        serve(catalogue, "127.0.0.1", port)
    finally:
        catalogue.close()
        portal.stop()
    return 0
