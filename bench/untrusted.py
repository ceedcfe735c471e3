"""What the untrusted-input gates cost a harvest: the XML gate on RDF/XML pages, the Turtle and JSON depth
checks, each against parsing the same page (the baseline, measured in the same run).

    python bench/untrusted.py                    # a 2,000-dataset page in each format, median of 5 runs
    python bench/untrusted.py --datasets 500 --repeat 9

Pages are the demo's generated catalogue serialised by fedcat's own writer (the city's datasets under new
IRIs), so every figure is for realistic DCAT-AP markup. Printed per format: the gate's median, the parse's
median (pyoxigraph, as the DCAT adapter parses), and gate / parse. Also the JSON depth check on a page of
long strings (the case that cost ~115 bytes a character before the possessive patterns), with the peak
memory it added.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable

import msgspec
import pyoxigraph
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.harvester.safety import check_json_depth, check_turtle_depth, check_xml
from fedcat.mappings.model import Text
from pyoxigraph import RdfFormat


def page(fmt: str, count: int) -> bytes:
    base = "https://ville.example"
    template = city_datasets(base)
    datasets = [
        msgspec.structs.replace(
            template[n % len(template)],
            uri=f"{base}/datasets/d{n}",
            identifier=[f"d{n}"],
            title=[Text(f"Jeu {n}", "fr")],
        )
        for n in range(count)
    ]
    [body] = hydra_pages(datasets, base + "/catalog?page=%d", count, fmt).values()
    return body


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases = [
        ("rdf", RdfFormat.RDF_XML, lambda body: check_xml(body, what="RDF/XML")),
        ("ttl", RdfFormat.TURTLE, check_turtle_depth),
        ("jsonld", RdfFormat.JSON_LD, check_json_depth),
    ]
    print(f"{args.datasets} datasets a page, medians of {args.repeat} runs")
    for fmt, rdf_format, gate in cases:
        body = page(fmt, args.datasets)
        checked = median_seconds(lambda body=body, gate=gate: gate(body), args.repeat)
        parsed = median_seconds(
            lambda body=body, rdf_format=rdf_format: list(pyoxigraph.parse(body, rdf_format, lenient=True)),
            args.repeat,
        )
        print(
            f"{fmt:7} {len(body) / 1e6:6.1f} MB  gate {checked * 1000:8.1f} ms  parse (baseline) "
            f"{parsed * 1000:8.1f} ms  gate/parse {checked / parsed:5.2f}"
        )
    strings = b'{"a": "' + b"x" * 20_000_000 + b'", "b": "' + b"\\n" * 5_000_000 + b'"}'
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    checked = median_seconds(lambda: check_json_depth(strings), args.repeat)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"json depth check, 30 MB of strings: {checked * 1000:.1f} ms, peak memory +{grown:.0f} MB")


if __name__ == "__main__":
    main()
