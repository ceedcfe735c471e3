"""Payload benchmark: what a harvest computes per record before it stores it, against another checkout.

    python bench/payload.py                              # this checkout: medians of 5 passes
    python bench/payload.py --baseline ../base --repeat 7   # alternating with another checkout (its .venv)
    python bench/payload.py --digest --baseline ../base     # same records, hashes and datasets as there?
    python bench/payload.py --instructions --baseline ../base   # instructions a dataset (valgrind), both

Per record, in one pass (a process of its own per checkout and pass, alternated after a warm-up pair):
- `worker`: what the DCAT parsing process does with those pages (`_read_and_map`: parse, split, canonical
  N-Triples and hash, map, encode the dataset, pack the payload), the encoding of its reply apart;
- `dcat`: parse synthetic DCAT-AP Turtle pages (bench/harvest.py's, 46 triples a dataset), split them into
  records (payload and change hash: `read_page`, then the hash the run takes) and map each from its parsed form
  (`mapping_for("dcat")`, as the harvest does);
- `json`: every data.json dataset of ../shared/corpus made into a record (`json_record`: payload and hash).
CPU time per record is the figure to compare (the machine's cores are shared); wall time beside it, and the
load average when the pass ran.

`--instructions` counts what the load cannot skew: the instructions the parsing process's job executes per
dataset (`_read_and_map` of one synthetic page after a warm-up page), under valgrind's callgrind, in each
checkout (the difference of a run with the page and one without; the four runs in parallel, minutes each).

`--digest` is the guard for changes to the parsing path's internals: one digest, per checkout, of what the
DCAT parsing process sends for every document of ../shared/corpus/dcat and for the synthetic pages (record
ids, payloads, change hashes, packed payloads unpacked, mapped datasets) and of the in-process mapping of the
same records; the two checkouts must print the same digests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "shared" / "corpus"
PAGES, PER_PAGE = 4, 1000
CALLGRIND = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")


def measure() -> dict[str, float]:
    """One pass in this process: µs per record (CPU and wall) of each part."""
    sys.path.insert(0, str(HERE))
    from fedcat.gc_pause import gc_paused
    from fedcat.harvester.adapters.dcat import _read_and_map, read_page
    from fedcat.harvester.adapters.jsonapi import json_record
    from fedcat.harvester.workers import pack
    from fedcat.mappings.context import SourceContext
    from fedcat.mappings.registry import mapping_for
    from fedcat.store import payload_hash
    from harvest import page_turtle
    from pyoxigraph import RdfFormat

    pages = [page_turtle(n, PAGES * PER_PAGE, "https://bench.test", PER_PAGE) for n in range(1, PAGES + 1)]
    items = []
    for path in sorted((CORPUS / "datajson").rglob("*.json")):
        try:
            found = json.loads(path.read_bytes()).get("dataset")
        except (ValueError, AttributeError):
            continue
        items.extend(i for i in found or () if isinstance(i, dict))
    source = SourceContext("bench", "https://bench.test", {}, lambda srid: f"https://f.test/{srid}")
    mapping = mapping_for("dcat")
    out: dict[str, float] = {}

    def timed(name: str, count: int, work) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        work()
        out[f"{name}_cpu_us"] = (time.process_time() - cpu) / count * 1e6
        out[f"{name}_wall_us"] = (time.perf_counter() - wall) / count * 1e6

    def worker() -> None:
        for content in pages:
            with gc_paused():  # as the parsing process reads a page (harvester.workers.serve_jobs)
                pack(_read_and_map(content, "text/turtle", "https://bench.test/"))

    timed("worker", PAGES * PER_PAGE, worker)
    records = []

    def split() -> None:
        for n, content in enumerate(pages, 1):
            for record in read_page(content, RdfFormat.TURTLE, "https://bench.test/", "u", n).records:
                record.digest = record.digest or payload_hash(record.payload)  # what the run takes
                records.append(record)

    timed("dcat_records", PAGES * PER_PAGE, split)
    timed(
        "dcat_mapping",
        len(records),
        lambda: [mapping(r.payload, "https://f.test/d", source, r.parsed) for r in records],
    )

    def json_records() -> None:
        for item in items:
            record = json_record("x", item, "u", 1)
            record.digest or payload_hash(record.payload)

    timed("json_records", max(1, len(items)), json_records)
    out["json_count"] = len(items)
    out["load"] = os.getloadavg()[0]
    return out


def digest() -> dict[str, str]:
    """Digests of what the parsing process sends and of the in-process mapping (see the docstring)."""
    import hashlib

    sys.path.insert(0, str(HERE))
    from fedcat.harvester.adapters.dcat import _read_and_map, detect_format, read_page
    from fedcat.harvester.http import HarvestError
    from fedcat.mappings.context import SourceContext
    from fedcat.mappings.model import dataset_to_json
    from fedcat.mappings.registry import mapping_for
    from fedcat.store import unpack_payload
    from harvest import page_turtle

    media = {".ttl": "text/turtle", ".nt": "application/n-triples", ".rdf": "application/rdf+xml"}
    media |= {".xml": "application/rdf+xml", ".jsonld": "application/ld+json", ".json": "application/ld+json"}
    documents = [
        (str(path.relative_to(CORPUS)), path.read_bytes(), media[path.suffix])
        for path in sorted((CORPUS / "dcat").rglob("*"))
        if path.suffix in media
    ]
    documents += [
        (f"synthetic-{n}", page_turtle(n, PAGES * PER_PAGE, "https://bench.test", PER_PAGE), "text/turtle")
        for n in range(1, PAGES + 1)
    ]
    sent, mapped = hashlib.sha256(), hashlib.sha256()
    source = SourceContext("bench", "https://bench.test", {}, lambda srid: f"https://f.test/{srid}")
    mapping, records = mapping_for("dcat"), 0
    for name, content, media_type in documents:
        base = "https://bench.test/doc/"
        try:
            rdf_format = detect_format(content, media_type, name)
            next_url, total, found = _read_and_map(content, rdf_format.media_type, base)
        except (HarvestError, ValueError, SyntaxError) as exc:
            sent.update(f"{name} refused: {exc}\n".encode())
            continue
        sent.update(f"{name} {next_url} {total} {len(found)}\n".encode())
        for srid, payload, size, change_hash, packed, dataset in found:
            records += 1
            sent.update(repr((srid, payload, size, change_hash, unpack_payload(packed), dataset)).encode())
        for record in read_page(content, rdf_format, base, base, 0).records:
            try:
                result = dataset_to_json(mapping(record.payload, "https://f.test/d", source, record.parsed))
            except Exception as exc:
                result = f"{type(exc).__name__}: {exc}".encode()
            mapped.update(record.source_record_id.encode() + b"\0" + result + b"\n")
    return {"documents": str(len(documents)), "records": str(records), "sent": sent.hexdigest(),
            "mapped": mapped.hexdigest()}  # fmt: skip


def instructions_child(pages: int) -> None:
    """The job `--instructions` counts: a warm-up page (caches filled), then `pages` more."""
    sys.path.insert(0, str(HERE))
    from fedcat.gc_pause import gc_paused
    from fedcat.harvester.adapters.dcat import _read_and_map
    from harvest import page_turtle

    contents = [page_turtle(n, PAGES * PER_PAGE, "https://bench.test", PER_PAGE) for n in (2, 3)]
    _read_and_map(contents[0], "text/turtle", "https://bench.test/")
    with gc_paused():
        for content in contents[1 : 1 + pages]:
            _read_and_map(content, "text/turtle", "https://bench.test/")


def instructions(checkouts: dict[str, tuple[str, Path]]) -> None:
    """Instructions a dataset of the parsing process's job in each checkout (callgrind, deterministic)."""
    import re
    import shutil

    if not shutil.which("valgrind"):
        print("no valgrind on PATH: no instruction counts")
        return
    runs = {
        (name, pages): subprocess.Popen(
            [*CALLGRIND, python, str(Path(__file__).resolve()), "--instructions-child", str(pages)],
            cwd=cwd,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (python, cwd) in checkouts.items()
        for pages in (0, 1)
    }
    counts = {}
    for key, process in runs.items():
        _, err = process.communicate()
        found = re.search(r"I\s+refs:\s+([\d,]+)", err)
        counts[key] = int(found[1].replace(",", "")) if found else 0
    for name in checkouts:
        per = (counts[name, 1] - counts[name, 0]) / PER_PAGE
        print(f"{name:<10}{per / 1e6:8.3f} M instructions a dataset (parsing process job, callgrind)")


def run(python: str, cwd: Path, child: str = "--child") -> dict[str, float]:
    done = subprocess.run(
        [python, str(Path(__file__).resolve()), child],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another checkout with its own .venv")
    parser.add_argument("--digest", action="store_true", help="digests of the parsing path's output")
    parser.add_argument("--instructions", action="store_true", help="instruction counts (valgrind)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--instructions-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--digest-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure()))
        return 0
    if args.digest_child:
        print(json.dumps(digest()))
        return 0
    if args.instructions_child is not None:
        instructions_child(args.instructions_child)
        return 0
    if not (CORPUS / "datajson").is_dir():
        print(f"no corpus at {CORPUS}: nothing to measure")
        return 2
    checkouts = {"this": (sys.executable, HERE.parent)}
    if args.baseline:
        base = args.baseline.resolve()
        checkouts["baseline"] = (str(base / ".venv" / "bin" / "python"), base)
    if args.instructions:
        instructions(checkouts)
        return 0
    if args.digest:
        found = {name: run(python, cwd, "--digest-child") for name, (python, cwd) in checkouts.items()}
        for name, values in found.items():
            print(f"{name:<10}" + "  ".join(f"{key} {value}" for key, value in values.items()))
        same = all(values == found["this"] for values in found.values())
        print("same output" if same else "DIFFERENT output")
        return 0 if same else 1
    for python, cwd in checkouts.values():
        run(python, cwd)  # warm-up (file cache, .pyc)
    passes: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    for _ in range(args.repeat):
        for name, (python, cwd) in checkouts.items():
            passes[name].append(run(python, cwd))
    parts = ("worker", "dcat_records", "dcat_mapping", "json_records")
    print(
        f"{PAGES * PER_PAGE} DCAT records, {int(passes['this'][0]['json_count'])} data.json records;"
        f" medians of {args.repeat} alternated passes, µs per record"
    )
    print(f"{'checkout':<10}" + "".join(f"{p + ' cpu':>20}{p + ' wall':>20}" for p in parts) + f"{'load':>8}")
    for name, found in passes.items():
        cells = "".join(
            f"{statistics.median(p[f'{part}_{kind}_us'] for p in found):>20.1f}"
            for part in parts
            for kind in ("cpu", "wall")
        )
        print(f"{name:<10}{cells}{statistics.median(p['load'] for p in found):>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
