"""What the audit costs: loading the registry of public bodies, and the report over a generated store.

    python bench/audit.py [--records 100000] [--repeat 5] [--bodies FILE ...]

The registry: the @etalab/decoupage-administratif files (default: the corpus's `bodies/` beside the
repository, where the tests find it), loaded --repeat times. The store: --records generated records over 40
sources (each with a département as jurisdiction), 3 distributions each, scored as the indexer scores them;
their publishers are 5,000 of the registry's communes and EPCI: a third by SIREN, a third by a spelling of
their name ("Ville de X", "Mairie de X", "X"), the rest under names no body has or without a publisher
(matched through their source's jurisdiction); one record in 50 is a copy of another source's dataset.
Each has three keywords; one in 10 is titled as an expected dataset family (délibérations, budget…), one in
30 declares an SCDL schema in dct:conformsTo, one in 40 an HVD category: the families recognised.

Times (medians of --repeat): the first report (every record read into `audit_facts`, its families
recognised), the next ones (nothing changed), one after 1% of the records changed, the rows of the whole
registry (with families present and missing), and the summary (with each family's coverage). Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fedcat.audit.families import recognise
from fedcat.audit.registry import Registry
from fedcat.audit.report import Filters, body_rows, published_by_body, refresh_facts, summary
from fedcat.indexer import derived
from fedcat.mappings.model import Agent, Dataset, Distribution, Text, dataset_to_json
from fedcat.store import Store, Upsert, payload_hash

CORPUS_BODIES = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "bodies"
FT = "http://publications.europa.eu/resource/authority/file-type/"
LICENCES = ("ETALAB_2_0", "ODC_BL", "CC_BYNC_4_0")
SOURCES = 40
PUBLISHERS = 5000
FAMILY_TITLES = ("Délibérations du conseil", "Budget primitif", "Subventions aux associations",
                 "Marchés publics attribués", "Équipements collectifs")  # fmt: skip
SCDL = "https://schema.data.gouv.fr/scdl/deliberations/2.1.4/documentation.html"


def median_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def publisher(i: int, bodies: list, source: int) -> Agent | None:
    body = bodies[(i * 7919) % len(bodies)]
    variant = i % 6
    if variant in (0, 1):
        return Agent(name=[Text(body.name)], identifier=body.siren)
    if variant in (2, 3):
        prefix = ("Ville de ", "Mairie de ", "")[i % 3] if body.kind == "commune" else ""
        return Agent(name=[Text(prefix + body.name)])
    if variant == 4:
        return Agent(name=[Text(f"Association {i % 700} de la source {source}")])
    return None


def dataset(i: int, bodies: list, source: int, uri: str) -> Dataset:
    return Dataset(
        uri=uri,
        title=[Text(f"{FAMILY_TITLES[i // 10 % 5] if i % 10 == 0 else 'Jeu de données'} {i}", "fr")],
        description=[Text("Description " * 20, "fr")],
        keywords=[Text(k, "fr") for k in ("environnement", f"thème {i % 30}", "open data")],
        conforms_to=[SCDL] if i % 30 == 0 else [],
        publisher=publisher(i, bodies, source),
        licence=f"http://publications.europa.eu/resource/authority/licence/{LICENCES[i % 3]}",
        modified=f"20{15 + i % 10}-0{1 + i % 9}-15",
        hvd_categories=["http://data.europa.eu/bna/c_ac64a52d"] if i % 40 == 0 else [],
        distributions=[
            Distribution(download_url=[f"https://files.example/{i}/{n}.{fmt.lower()}"], format=FT + fmt)
            for n, fmt in enumerate(("CSV", "PDF", "XLSX") if i % 4 else ("PDF", "XLSX", "ZIP"))
        ],
    )


def fill(store: Store, n: int, bodies: list, departements: list[str], round_: int = 0) -> None:
    """Round 0: n records. Round k: the records i with i % 100 == k change (1%), some of them publisher."""
    store.sync_sources(
        SimpleNamespace(
            id=f"s{s}", name=f"Source {s}", type="dcat", url="",
            jurisdiction=SimpleNamespace(key=departements[s % len(departements)]),
        )
        for s in range(SOURCES)
    )  # fmt: skip
    for start in range(0, n, 5000):
        by_source: dict[int, list[Upsert]] = {}
        for i in range(start, min(start + 5000, n)):
            if round_ and i % 100 != round_:
                continue
            source = i % SOURCES
            uri = f"https://data.example/{i - 1 if i % 50 == 0 and i else i}"  # 1 in 50: a copy
            raw = f"{i}-{round_}".encode()
            by_source.setdefault(source, []).append(
                Upsert(
                    f"s{source}-{i:08d}", str(i), dataset(i + round_, bodies, source, uri), raw,
                    "application/json", payload_hash(raw), "",
                )
            )  # fmt: skip
        names = derived.refresh(store) if round_ else None
        for source, upserts in by_source.items():
            store.save_page(f"s{source}", 1, upserts, [])
            if names is not None:  # the indexer's scoring of changed records
                derived.derive(store, names, [(u.id, f"s{source}", u.dataset) for u in upserts])
    if not round_:
        names = derived.refresh(store)
        batch = [(r["id"], r["source_id"], r["dataset"]) for r in store.iter_records()]
        for start in range(0, len(batch), 5000):
            derived.derive(store, names, batch[start : start + 5000])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bodies", type=Path, nargs="+", default=None)
    args = parser.parse_args()
    files = args.bodies or sorted(
        CORPUS_BODIES / f"decoupage-administratif-6.0.0-{name}.json"
        for name in ("communes", "epci", "departements", "regions")
    )
    if not all(f.is_file() for f in files):
        raise SystemExit(f"no registry files: give --bodies, or check out the corpus at {CORPUS_BODIES}")
    print(
        f"registry: {', '.join(f.name for f in files)} ({sum(f.stat().st_size for f in files) / 1e6:.1f} MB)"
    )
    seconds, registry = median_of(args.repeat, lambda: Registry.load(files))
    print(
        f"{'load the registry':<52} {seconds:8.3f} s  ({len(registry):,} bodies, {len(registry.problems)} problems)"
    )

    bodies = [b for b in registry.bodies.values() if b.kind in ("commune", "epci") and b.siren]
    bodies = [bodies[(i * 104729) % len(bodies)] for i in range(PUBLISHERS)]
    departements = sorted(b for b in registry.bodies if b.startswith("departement:"))
    jurisdictions = {f"s{s}": departements[s % len(departements)] for s in range(SOURCES)}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "fedcat.db")
        start = time.perf_counter()
        fill(store, args.records, bodies, departements)
        print(f"{args.records:,} records generated, stored and scored in {time.perf_counter() - start:.0f} s")

        start = time.perf_counter()
        read = refresh_facts(store)
        print(f"{'first report: every record read into audit_facts':<52} {time.perf_counter() - start:8.3f} s  ({read:,} records)")  # fmt: skip
        seconds, published = median_of(args.repeat, lambda: published_by_body(store, registry, jurisdictions))
        print(f"{'report, nothing changed (refresh check + 3 aggregations)':<52} {seconds:8.3f} s")
        print(
            f"{'':<52} {published.matched:,} of {published.records:,} records matched to "
            f"{len(published.bodies):,} bodies; {len(published.unmatched):,} publishers unmatched"
        )
        changes = []
        for round_ in range(1, args.repeat + 1):
            fill(store, args.records, bodies, departements, round_)
            start = time.perf_counter()
            published_by_body(store, registry, jurisdictions)
            changes.append(time.perf_counter() - start)
        print(f"{'report after 1% of the records changed':<52} {statistics.median(changes):8.3f} s")
        seconds, rows = median_of(args.repeat, lambda: body_rows(registry, published, Filters()))
        print(f"{'rows of the whole registry (obligation, families, sort)':<52} {seconds:8.3f} s  ({len(rows):,} rows)")  # fmt: skip
        seconds, s = median_of(args.repeat, lambda: summary(rows, published))
        print(f"{'summary (with the coverage of each family)':<52} {seconds:8.3f} s")
        print(f"{'':<52} {s['obligated']:,} obligated, {s['obligated_publishing']:,} of them publishing")
        deliberations = next(f for f in s["families"] if f["id"] == "deliberations")
        print(
            f"{'':<52} délibérations: {deliberations['having']:,} of {deliberations['obligated']:,} obligated "
            f"bodies; {sum(len(b['families']) for b in published.bodies.values()):,} (body, family) pairs"
        )
        sample = dataset_to_json(dataset(0, bodies, 0, "https://data.example/0"))
        seconds, _ = median_of(args.repeat, lambda: [recognise(sample) for _ in range(10_000)])
        print(f"{'recognise the families of one record':<52} {seconds * 100:8.3f} µs")
        store.close()


if __name__ == "__main__":
    main()
