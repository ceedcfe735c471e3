"""Peak memory of `fedcat harvest` on one CKAN page of many datasets (a server ignoring `rows`) against the
same datasets served in pages of 1,000 (the baseline), measured in the same run.

    python bench/large_page.py                          # 20,000 datasets, median of 3 harvests each
    python bench/large_page.py --datasets 50000 --repeat 1

Each harvest is `python -m fedcat harvest` in its own process against a local CKAN package_search; its
peak resident memory (VmHWM, children included) is read from /proc every 5 ms. Printed: the median peak
and seconds of each layout, and one page / pages. The search index's writer buffers up to its heap
whatever the layout, so both grow a little with the count; a page read whole once grew ~12 KB a dataset
more (100,000 in one page took 1.27 GB).
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


def peak_kb(pid: int) -> int:
    """The process's (and its children's) largest VmHWM until it exits."""
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
        if os.waitpid(pid, os.WNOHANG)[0]:
            return peak
        time.sleep(0.005)


def harvest(folder: Path, url: str) -> tuple[float, float]:
    """(peak MB, seconds) of one `fedcat harvest` of the CKAN source at `url` into a new data dir."""
    config = folder / "sources.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "settings": {"base_url": "https://fedcat.example", "http": {"run_budget": 3600}},
                "sources": [{"id": "big", "name": "Big", "type": "ckan", "url": url}],
            }
        )
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fedcat",
            "harvest",
            "--config",
            str(config),
            "--data-dir",
            str(folder / "data"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return peak_kb(process.pid) / 1024, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    served = packages(args.datasets)

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

    results: dict[str, list[tuple[float, float]]] = {"pages of 1,000": [], "one page": []}
    with PortalServer() as portal, tempfile.TemporaryDirectory() as work:
        portal.handle("/paged/api/3/action/package_search", package_search(paged=True))
        portal.handle("/whole/api/3/action/package_search", package_search(paged=False))
        for run in range(args.repeat):  # alternated, so a busy machine weighs on both alike
            for layout, prefix in (("pages of 1,000", "/paged/"), ("one page", "/whole/")):
                folder = Path(work) / f"{prefix.strip('/')}-{run}"
                folder.mkdir()
                results[layout].append(harvest(folder, portal.url(prefix)))
    print(f"{args.datasets:,} CKAN datasets, `fedcat harvest`, median of {args.repeat}:")
    medians = {}
    for layout, runs in results.items():
        medians[layout] = statistics.median(peak for peak, _ in runs)
        seconds = statistics.median(s for _, s in runs)
        print(f"  {layout:<15} peak {medians[layout]:7.0f} MB   {seconds:6.1f} s")
    print(f"  one page / pages of 1,000: {medians['one page'] / medians['pages of 1,000']:.2f}")


if __name__ == "__main__":
    main()
