"""Peak memory of `fedcat harvest` on one page of many datasets (a server ignoring `rows`, a whole-catalogue
DCAT file) against the same datasets served in pages of 1,000 (the baseline), measured in the same run.

    python bench/large_page.py                          # 20,000 CKAN datasets, median of 3 harvests each
    python bench/large_page.py --datasets 50000 --repeat 1
    python bench/large_page.py --platform dcat --rdf turtle   # or rdfxml, jsonld, ntriples
    python bench/large_page.py --platform dcat --datasets 40000 --baseline ../base/.venv/bin/python

Each harvest is `python -m fedcat harvest` in its own process against a local CKAN package_search or DCAT
catalogue (Hydra-paged for the baseline); its peak resident memory (VmHWM, children included) is read from
/proc every 5 ms. Printed: the median peak, seconds and CPU seconds (user + system, children included) per
1,000 datasets of each layout, the machine's load beside them (the layouts alternate, so a busy machine weighs
on all alike), and one page / pages. The search index's writer buffers up to its heap whatever the layout,
so all grow a little with the count; a page read whole once grew ~12 KB a dataset more (100,000 in one page
took 1.27 GB). A DCAT page over 8 MB is read from a table on disk (harvester/adapters/rdfstore.py); the
layout "one page parsed whole" is the same harvest with that threshold lifted. `--baseline PYTHON` adds
"one page, baseline": the one page harvested by another checkout's interpreter (its venv's python), to
compare old code with new in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from fedcat.demo.portal import PortalServer, Reply


def packages(count: int) -> list[dict]:
    return [
        {
            "id": f"p{n:06d}",
            "name": f"jeu-{n}",
            "title": f"Jeu de données {n}",
            "notes": "Une description de quelques phrases. " * 6,
            "license_id": "cc-by",
            "metadata_modified": "2024-01-02T03:04:05",
            "tags": [{"name": "transport"}, {"name": "vélo"}],
            "resources": [{"id": f"r{n}", "url": f"https://example.org/{n}.csv", "format": "CSV"}],
        }
        for n in range(count)
    ]


RDF_FORMATS = {"turtle": "text/turtle", "rdfxml": "application/rdf+xml", "jsonld": "application/ld+json",
               "ntriples": "application/n-triples"}  # fmt: skip
PREFIXES = (
    "@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .\n"
    "@prefix foaf: <http://xmlns.com/foaf/0.1/> . @prefix hydra: <http://www.w3.org/ns/hydra/core#> .\n"
)


def dcat_page(base: str, first: int, count: int, total: int, next_url: str | None, media_type: str) -> bytes:
    """A DCAT catalogue page of datasets first..first+count, in `media_type`."""
    import pyoxigraph

    lines = [PREFIXES, f"<{base}catalog> a dcat:Catalog ; hydra:totalItems {total} ."]
    if next_url:
        lines.append(f"<{base}catalog> hydra:next <{next_url}> .")
    for n in range(first, first + count):
        lines.append(
            f"<{base}catalog> dcat:dataset <{base}d/{n}> .\n"
            f'<{base}d/{n}> a dcat:Dataset ; dct:title "Jeu de données {n}"@fr ; '
            f'dct:description "{"Une description de quelques phrases. " * 6}"@fr ; '
            f'dct:modified "2024-01-02T03:04:05"^^<http://www.w3.org/2001/XMLSchema#dateTime> ; '
            f'dct:publisher <{base}org/{n % 50}> ; dcat:keyword "transport", "vélo" ;\n'
            f"  dcat:distribution [ a dcat:Distribution ; dcat:accessURL <https://example.org/{n}.csv> ; "
            f'dct:format "CSV" ] .\n'
            f'<{base}org/{n % 50}> a foaf:Agent ; foaf:name "Organisation {n % 50}" .'
        )
    turtle = "\n".join(lines).encode()
    if media_type == "text/turtle":
        return turtle
    fmt = pyoxigraph.RdfFormat.from_media_type(media_type)
    assert fmt is not None
    return pyoxigraph.serialize(pyoxigraph.parse(turtle, pyoxigraph.RdfFormat.TURTLE), format=fmt) or b""


def peak_kb(pid: int) -> tuple[int, float]:
    """The process's (and its children's) largest VmHWM until it exits, and its CPU seconds."""
    peak = 0
    while True:
        pending = [pid]
        while pending:
            current = pending.pop()
            try:
                for line in Path(f"/proc/{current}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
                for task in Path(f"/proc/{current}/task").iterdir():
                    pending += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        done, _, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return peak, usage.ru_utime + usage.ru_stime
        time.sleep(0.005)


# `fedcat harvest` with a DCAT page of any size parsed whole in memory, as before rdfstore (the baseline)
WHOLE_IN_MEMORY = (
    "import sys; from fedcat.harvester.adapters import rdfstore; rdfstore.STORE_OVER = 1 << 62; "
    "from fedcat.cli import main; sys.exit(main())"
)


def harvest(
    folder: Path, url: str, platform: str = "ckan", in_memory: bool = False, python: str = sys.executable
) -> tuple[float, float, float]:
    """(peak MB, seconds, CPU seconds) of one `fedcat harvest` of the source at `url` into a new data dir."""
    config = folder / "sources.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "settings": {"base_url": "https://fedcat.example", "http": {"run_budget": 3600}},
                "sources": [{"id": "big", "name": "Big", "type": platform, "url": url}],
            }
        )
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [
            python,
            *(["-c", WHOLE_IN_MEMORY] if in_memory else ["-m", "fedcat"]),
            "harvest",
            "--config",
            str(config),
            "--data-dir",
            str(folder / "data"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak, cpu = peak_kb(process.pid)
    return peak / 1024, time.monotonic() - started, cpu


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--platform", choices=("ckan", "dcat"), default="ckan")
    parser.add_argument("--rdf", choices=sorted(RDF_FORMATS), default="turtle", help="with --platform dcat")
    parser.add_argument(
        "--no-whole", action="store_true", help="skip the DCAT page parsed whole (GBs at 80,000)"
    )
    parser.add_argument(
        "--baseline", metavar="PYTHON", help="also harvest the one page with this interpreter"
    )
    args = parser.parse_args()
    served = packages(args.datasets) if args.platform == "ckan" else []

    def package_search(paged: bool):
        def answer(request) -> Reply:
            start = int(request.query.get("start", ["0"])[0])
            rows = int(request.query.get("rows", ["1000"])[0]) if paged else len(served)
            body = {
                "success": True,
                "result": {"count": len(served), "results": served[start : start + rows]},
            }
            return Reply(json.dumps(body).encode(), "application/json")

        return answer

    results: dict[str, list[tuple[float, float, float, str]]] = {"pages of 1,000": [], "one page": []}
    with PortalServer() as portal, tempfile.TemporaryDirectory() as work:
        if args.platform == "ckan":
            portal.handle("/paged/api/3/action/package_search", package_search(paged=True))
            portal.handle("/whole/api/3/action/package_search", package_search(paged=False))
            urls = {"pages of 1,000": portal.url("/paged/"), "one page": portal.url("/whole/")}
        else:
            media_type, base = RDF_FORMATS[args.rdf], "https://catalogue.example/"
            pages = (args.datasets + 999) // 1000
            for page in range(pages):
                following = portal.url(f"/paged/catalog?page={page + 2}") if page + 1 < pages else None
                body = dcat_page(base, page * 1000, min(1000, args.datasets - page * 1000), args.datasets,
                                 following, media_type)  # fmt: skip
                portal.add(f"/paged/catalog?page={page + 1}", body, media_type)
            whole = dcat_page(base, 0, args.datasets, args.datasets, None, media_type)
            portal.add("/whole/catalog", whole, media_type)
            print(f"one page: {len(whole) / 1e6:.1f} MB of {args.rdf}")
            urls = {
                "pages of 1,000": portal.url("/paged/catalog?page=1"),
                "one page": portal.url("/whole/catalog"),
                "one page parsed whole": portal.url("/whole/catalog"),
            }
            results["one page parsed whole"] = []
            if args.no_whole:
                del urls["one page parsed whole"], results["one page parsed whole"]
        if args.baseline:
            urls["one page, baseline"] = urls["one page"]
            results["one page, baseline"] = []
        for run in range(args.repeat):  # alternated, so a busy machine weighs on both alike
            for layout, url in urls.items():
                folder = Path(work) / f"{layout.replace(' ', '-')}-{run}"
                folder.mkdir()
                python = args.baseline if layout.endswith("baseline") else sys.executable
                peak, seconds, cpu = harvest(folder, url, args.platform, layout.endswith("whole"), python)
                results[layout].append((peak, seconds, cpu, load()))
                print(f"  run {run + 1}, {layout}: peak {peak:.0f} MB, {seconds:.1f} s, {cpu:.1f} s CPU, "
                      f"{results[layout][-1][3]}", flush=True)  # fmt: skip
    what = "CKAN" if args.platform == "ckan" else f"DCAT ({args.rdf})"
    print(f"{args.datasets:,} {what} datasets, `fedcat harvest`, median of {args.repeat}:")
    medians, cpus, walls = {}, {}, {}
    per = 1000 / args.datasets
    for layout, runs in results.items():
        medians[layout] = statistics.median(r[0] for r in runs)
        walls[layout] = statistics.median(r[1] for r in runs)
        cpus[layout] = statistics.median(r[2] for r in runs)
        loads = ", ".join(r[3].split()[1] for r in runs)
        print(
            f"  {layout:<22} peak {medians[layout]:7.0f} MB   {walls[layout]:6.1f} s   "
            f"{cpus[layout] * per:5.2f} s CPU / 1,000 datasets   {walls[layout] * per:5.2f} s / 1,000   load {loads}"
        )
    for layout in ("one page", "one page parsed whole", "one page, baseline"):
        if layout in medians:
            print(
                f"  {layout} / pages of 1,000: peak {medians[layout] / medians['pages of 1,000']:.2f}, "
                f"CPU {cpus[layout] / cpus['pages of 1,000']:.2f}, seconds {walls[layout] / walls['pages of 1,000']:.2f}"
            )


if __name__ == "__main__":
    main()
