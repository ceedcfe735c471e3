"""Normaliser benchmark: records/s for the value normalisers alone, on a realistic mix of corpus values.

    python bench/normalise.py                      # 200,000 records, median of 5 runs
    python bench/normalise.py --records 50000 --repeat 3

Each record carries what a harvested dataset asks of mappings.normalise: a licence, 3 formats, 2 themes, a
language, a frequency and 2 dates (10 calls). The values are drawn (seeded) from the licence, format, theme,
language, frequency and date values of ../shared/corpus, weighted by how often the corpus uses them, so the
mix has the corpus' long tail of odd values; without the corpus a built-in list of real values is used.

Figures, all from this run (medians of --repeat runs):
- warm: the caches hold every distinct value (the steady state of a harvest);
- cold: all caches cleared before each run, so every distinct value is looked up once the slow way;
- uncached baseline: each distinct value normalised with every cache cleared first (per-value cost of the
  lookup itself), and the records/s that would give if nothing were cached;
- the one-off cost of loading the YAML tables.
The target is 20,000 records/s.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fedcat.mappings import normalise, vocabularies

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT / ".." / "shared" / "corpus"
SEED = 20240601
TARGET = 20_000

KEYS = {
    "license": "licence",
    "license_id": "licence",
    "license_title": "licence",
    "format": "format",
    "mediaType": "format",
    "mimetype": "format",
    "mime": "format",
    "theme": "theme",
    "language": "language",
    "accrualPeriodicity": "frequency",
    "frequency": "frequency",
    "issued": "date",
    "modified": "date",
    "created_at": "date",
    "metadata_modified": "date",
}
# Real values (from the corpus) when the corpus is absent.
FALLBACK = {
    "licence": ["Licence Ouverte v2.0", "odc-odbl", "cc-by", "CC-BY-4.0", "fr-lo", "notspecified", "lov2"],
    "format": ["CSV", "csv", "text/csv", "HTML", "SHP", "GEOJSON", "API", "application/zip", "json", "PDF"],
    "theme": ["Transports, Déplacements", "Environnement", "Culture, Patrimoine", "geospatial", "TRAN"],
    "language": ["fr", "en", "http://id.loc.gov/vocabulary/iso639-1/fr", "FRA"],
    "frequency": ["annual", "unknown", "Annuelle", "R/P1Y", "punctual", "daily"],
    "date": ["2014-09-12T05:39:31.894000+00:00", "2015-07-22T14:30:12.133585", "2024-05-01", None, "1993"],
}


def corpus_values(corpus: Path) -> dict[str, list]:
    """Every value of the keys above in the corpus JSON documents and the Opendatasoft CSV export."""
    out: dict[str, list] = {kind: [] for kind in FALLBACK}

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                kind = KEYS.get(key)
                if kind:
                    for item in value if isinstance(value, list) else [value]:
                        if isinstance(item, str) or (item is None and kind == "date"):
                            out[kind].append(item)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for folder in ("ckan", "udata", "datajson", "ods"):
        for path in sorted((corpus / folder).rglob("*.json")):
            if path.name != "explore-v2.1-openapi.json":  # a spec, not data
                walk(json.loads(path.read_text(encoding="utf-8")))
    with (corpus / "ods/ods-public-opendatasoft-catalog-2015.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for column, kind in (("license", "licence"), ("theme", "theme"), ("language", "language")):
                out[kind].append(row[column])
            out["frequency"].append(row["dcat.accrualperiodicity"])
            out["date"].append(row["modified"])
    return out


def make_records(pools: dict[str, list], count: int) -> list[tuple]:
    rng = random.Random(SEED)
    pick = {kind: (lambda values=values: rng.choice(values)) for kind, values in pools.items()}
    return [
        (
            pick["licence"](),
            (pick["format"](), pick["format"](), pick["format"]()),
            (pick["theme"](), pick["theme"]()),
            pick["language"](),
            pick["frequency"](),
            (pick["date"](), pick["date"]()),
        )
        for _ in range(count)
    ]


def normalise_records(records: list[tuple]) -> int:
    licence_uri, format_uri, theme_uris = normalise.licence_uri, normalise.format_uri, normalise.theme_uris
    language_uri, frequency_uri, normalise_date = (
        normalise.language_uri,
        normalise.frequency_uri,
        normalise.normalise_date,
    )
    mapped = 0
    for licence, formats, themes, language, frequency, dates in records:
        mapped += licence_uri(licence) is not None
        for value in formats:
            mapped += format_uri(value) is not None
        for value in themes:
            mapped += bool(theme_uris(value))
        mapped += language_uri(language) is not None
        mapped += frequency_uri(frequency) is not None
        for value in dates:
            mapped += normalise_date(value) is not None
    return mapped


def timed(run: Callable[[], object], before: Callable[[], None] = lambda: None) -> float:
    before()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def uncached_cost(pools: dict[str, list]) -> dict[str, float]:
    """Mean seconds per distinct value of each kind with every cache cleared before the call."""
    functions = {
        "licence": normalise.licence_uri,
        "format": normalise.format_uri,
        "theme": normalise.theme_uris,
        "language": normalise.language_uri,
        "frequency": normalise.frequency_uri,
        "date": normalise.normalise_date,
    }
    costs = {}
    for kind, function in functions.items():
        values = sorted(set(pools[kind]), key=lambda v: (v is None, v or ""))
        total = 0.0
        for value in values:
            normalise.clear_caches()
            start = time.perf_counter()
            function(value)
            total += time.perf_counter() - start
        costs[kind] = total / len(values)
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args(argv)

    if (args.corpus / "MANIFEST.md").is_file():
        pools = corpus_values(args.corpus)
        origin = "corpus"
    else:
        pools, origin = FALLBACK, "built-in list (no corpus)"
    pools = {kind: values or FALLBACK[kind] for kind, values in pools.items()}
    records = make_records(pools, args.records)
    distinct = {kind: len(set(values)) for kind, values in pools.items()}
    print(f"values from the {origin}: {distinct} distinct per kind")
    print(
        f"{args.records:,} records x 10 normaliser calls (licence, 3 formats, 2 themes, language, frequency, 2 dates)"
    )

    start = time.perf_counter()
    for name in (*vocabularies.VOCABULARIES, "media-type"):
        vocabularies.vocabulary(name)
    print(f"tables loaded in {time.perf_counter() - start:.3f} s (once per process)")

    normalise_records(records)  # warm-up
    warm = [timed(lambda: normalise_records(records)) for _ in range(args.repeat)]
    cold = [timed(lambda: normalise_records(records), normalise.clear_caches) for _ in range(args.repeat)]
    mapped = normalise_records(records)
    costs = uncached_cost(pools)
    per_record = (
        costs["licence"] + 3 * costs["format"] + 2 * costs["theme"] + costs["language"] + costs["frequency"]
    ) + 2 * costs["date"]

    warm_rate = args.records / statistics.median(warm)
    cold_rate = args.records / statistics.median(cold)
    print(f"mapped: {mapped / (args.records * 10):.1%} of the calls returned a URI or date")
    print(f"warm caches:     {warm_rate:12,.0f} records/s  (median of {args.repeat}; runs {_runs(warm)})")
    print(f"cold caches:     {cold_rate:12,.0f} records/s  (caches cleared before each run; {_runs(cold)})")
    print(
        "uncached:        "
        f"{1 / per_record:12,.0f} records/s  (every call a miss; per distinct value: "
        + ", ".join(f"{kind} {cost * 1e6:.1f} µs" for kind, cost in costs.items())
        + ")"
    )
    print(f"target {TARGET:,} records/s: {'met' if min(warm_rate, cold_rate) >= TARGET else 'NOT met'}")
    return 0


def _runs(times: list[float]) -> str:
    return " ".join(f"{t:.3f}s" for t in times)


if __name__ == "__main__":
    sys.exit(main())
