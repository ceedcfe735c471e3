"""What federation costs and how right it is: duplicate clustering of a generated federation.

    python bench/federation.py [--records 200000] [--duplicates 0.3] [--change 0.01] [--repeat 3] [--store]
                               [--search]
    python bench/federation.py --memory 50000,200000 [--against OTHER_TREE/.venv/bin/python] [--repeat 1]

--records records from 5 sources (a metropolis's Opendatasoft portal, a city portal, a national udata portal
that harvests both, a European DCAT catalogue that harvests the national one, a CKAN portal of another
region), of which --duplicates are copies of another source's dataset, varied as the real ones are:
- a udata mirror: its own object id, the origin's record id in adms:identifier, the origin's page in
  `harvest.remote_url` (http or https, with or without trailing slash), licence spelled otherwise;
- a DCAT copy under another IRI, the origin's IRI in adms:identifier, title re-cased;
- a copy with the same download URLs (www., trailing slash, query order varied) and a re-accented title;
- a last-resort copy: same publisher (another spelling), same title re-cased (every other one near-identical:
  a plural, an article or a letter dropped), same formats, nothing else.
Hard negatives: every publisher (one of 2,000 communes) has yearly series with one title per year, and the
same 300 titles ("Budget primitif", "Arbres"…) recur across publishers.

Times (medians of --repeat): the full clustering (facts and keys of every record, links, clusters), and a
--change share of records changed (titles, pages) re-clustered through `closure()` over in-memory key and
cluster indexes, as the view does. With --store, the same through a SQLite store as a sync runs it
(`federation.view.catch_up`: facts read and decoded, closure over the stored keys, clusters written): the
first refresh, one with nothing changed, and one after a --change share of records was rewritten. Precision
and recall of pairs against the generated truth. With --search (implies --store), the search a page makes
(20 hits, every facet) timed on two embedded indexes of the same store in the same run: the baseline with a
document per record (as before federation), and one per cluster (what the sync builds): p50 / p95 and
their ratio (target: p95 collapsed <= 1.2x uncollapsed). With --memory, only the first (whole-store)
`view.catch_up` at each size, each run in a fresh process on its own copy of one generated store: its time
and CPU time (median per record at the end), peak RSS (VmHWM), the peak minus the RSS before it and that
per record (memory must not grow with the catalogue), and a digest of the clusters, evidence, facts and keys
it wrote; --against runs the same in another tree's interpreter (a baseline worktree's venv) on the same
store, alternating (the same digest: the same clusters). Prints figures; asserts nothing. The baseline is
all-pairs within publisher (what blocking avoids), timed on a
1% sample and extrapolated.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import defaultdict

from fedcat.federation.cluster import Cluster, closure, cluster
from fedcat.federation.keys import copy_of, title_key
from fedcat.federation.rules import Overrides, default_rules
from fedcat.mappings.model import Agent, Dataset, Distribution, Text, dataset_to_json

SOURCES = ("mel", "lille", "national", "eu", "region")
THEMES = [
    "Budget primitif", "Arbres d'alignement", "Comptages vélo", "Délibérations du conseil", "Équipements sportifs",
    "Qualité de l'air", "Stationnement", "Marchés publics", "Subventions aux associations", "Élections",
]  # fmt: skip
FORMATS = ("CSV", "JSON", "SHP", "GeoJSON", "XLSX", "PDF")
LICENCES = ("Licence Ouverte v2.0", "licence-ouverte-2-0", "ETALAB_2_0", "ODbL", "odc-odbl")


def _recase(text: str, rnd: random.Random) -> str:
    return rnd.choice((text.upper(), text.lower(), text.title(), text))


def _unaccent(text: str) -> str:
    return text.translate(str.maketrans("éèêàçôÉ", "eeeacoE"))


def _near(title: str, rnd: random.Random) -> str:
    """The title as another portal retyped it: a plural, an article dropped or a letter lost."""
    words = title.split()
    n = rnd.randrange(len(words) - 1)  # never the year, the last word
    edit = rnd.randrange(3)
    if edit == 0:
        words[n] = words[n] + "s" if not words[n].endswith("s") else words[n][:-1]
    elif edit == 1 and len(words) > 2:
        words = [w for w in words if w.lower() not in ("de", "du", "des", "aux", "d'", "l'")] or words
    elif len(words[n]) > 4:
        cut = rnd.randrange(1, len(words[n]) - 1)
        words[n] = words[n][:cut] + words[n][cut + 1 :]
    return " ".join(words)


def _vary_url(url: str, rnd: random.Random) -> str:
    if rnd.random() < 0.5:
        url = url.replace("https://", "http://", 1)
    if rnd.random() < 0.5:
        url = url.replace("://", "://www.", 1)
    return url + "/" if rnd.random() < 0.5 and "?" not in url else url


def generate(
    records: int, duplicates: float, seed: int = 7
) -> tuple[list[tuple[str, str, Dataset]], dict[str, int]]:
    """(fedcat id, source, dataset) of every record, and the truth: record -> real dataset number."""
    rnd = random.Random(seed)
    copies_wanted = int(records * duplicates)
    originals = records - copies_wanted
    out: list[tuple[str, str, Dataset]] = []
    truth: dict[str, int] = {}
    made: list[tuple[int, str, Dataset]] = []
    held: set[tuple[int, str]] = set()  # (dataset, source): cross-source copies, one per source
    for n in range(originals):
        source = SOURCES[n % len(SOURCES)]
        commune = n % 2000
        title = f"{THEMES[(n // 2000) % len(THEMES)]} {n // 20000 + 2000}"  # same titles across publishers
        slug = f"{title_key(title).replace(' ', '-')}-{n}"
        host = f"{source}.portal.example.org"
        formats = rnd.sample(FORMATS, 2)
        dataset = Dataset(
            uri=f"https://fedcat.example/d/{source}/{n}",
            title=[Text(title, "fr")],
            original_uri=f"https://{host}/dataset/{slug}",
            identifier=[slug],
            publisher=Agent(name=[Text(f"Ville de Commune{commune}")]),
            landing_page=[f"https://{host}/explore/dataset/{slug}/"],
            licence=rnd.choice(LICENCES),
            distributions=[
                Distribution(
                    format=f, download_url=[f"https://{host}/api/exports/{slug}.{f.lower()}?lang=fr&sep=%3B"]
                )
                for f in formats
            ],
        )
        record = f"{source}-{n}"
        out.append((record, source, dataset))
        truth[record] = n
        made.append((n, source, dataset))
    for k in range(copies_wanted):
        n, origin_source, origin = made[rnd.randrange(len(made))]
        free = [s for s in SOURCES if s != origin_source and (n, s) not in held]
        if not free:
            continue
        source = rnd.choice(free)
        held.add((n, source))
        record = f"{source}-c{k}"
        kind = k % 4
        title = origin.title[0].value
        slug = origin.identifier[0]
        if kind == 0:  # udata mirror with its harvest block
            dataset = Dataset(
                uri=f"https://fedcat.example/d/{record}",
                title=[Text(_recase(title, rnd))],
                identifier=[f"{rnd.getrandbits(96):024x}"],
                other_identifier=[slug],
                landing_page=[
                    _vary_url(origin.landing_page[0].rstrip("/"), rnd),
                    f"https://www.data.gouv.fr/datasets/{k}/",
                ],
                publisher=origin.publisher,
                licence=rnd.choice(LICENCES),
            )
        elif kind == 1:  # DCAT copy under another IRI
            dataset = Dataset(
                uri=f"https://fedcat.example/d/{record}",
                title=[Text(_recase(title, rnd))],
                original_uri=f"https://data.europa.example/88/{k}",
                other_identifier=[origin.original_uri],
                publisher=origin.publisher,
            )
        elif kind == 2:  # same downloads
            dataset = Dataset(
                uri=f"https://fedcat.example/d/{record}",
                title=[Text(_unaccent(title))],
                publisher=Agent(name=[Text("Mairie de " + origin.publisher.name[0].value.split()[-1])]),
                distributions=[
                    Distribution(
                        format=d.format,
                        download_url=[
                            _vary_url(d.download_url[0].replace("lang=fr&sep=%3B", "sep=%3B&lang=fr"), rnd)
                        ],
                    )
                    for d in origin.distributions
                ],
            )
        else:  # last resort: publisher, title (exact or near-identical), formats
            dataset = Dataset(
                uri=f"https://fedcat.example/d/{record}",
                title=[Text(_recase(_unaccent(title if k % 8 == 3 else _near(title, rnd)), rnd))],
                publisher=Agent(name=[Text(origin.publisher.name[0].value.upper())]),
                distributions=[Distribution(format=d.format.lower()) for d in origin.distributions],
            )
        out.append((record, source, dataset))
        truth[record] = n
    return out, truth


def facts(records):
    return [copy_of(r, s, d, quality=50.0, first_seen="2025-01-01") for r, s, d in records]


def pair_scores(clusters: list[Cluster], truth: dict[str, int]) -> tuple[float, float]:
    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    predicted = sum(pairs(len(c.members)) for c in clusters)
    true_pairs = sum(pairs(n) for n in _counts(truth.values()).values())
    hits = 0
    for c in clusters:
        hits += sum(pairs(n) for n in _counts(truth[m] for m in c.members).values())
    return (hits / predicted if predicted else 1.0), (hits / true_pairs if true_pairs else 1.0)


def _counts(values) -> dict:
    counts: dict = defaultdict(int)
    for v in values:
        counts[v] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--duplicates", type=float, default=0.3)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", action="store_true", help="also through a SQLite store, as a sync runs it")
    parser.add_argument(
        "--search", action="store_true", help="with --store: search p95, clusters collapsed vs one per record"
    )
    parser.add_argument(
        "--memory", help="sizes (e.g. 50000,200000): peak memory of the first whole-store catch_up alone"
    )
    parser.add_argument("--against", help="with --memory: a baseline tree's python, run on the same stores")
    args = parser.parse_args()
    if args.memory:
        memory_bench([int(n) for n in args.memory.split(",")], args)
        return
    rules = default_rules()
    t = time.perf_counter()
    records, truth = generate(args.records, args.duplicates)
    print(
        f"generated {len(records):,} records from {len(SOURCES)} sources in {time.perf_counter() - t:.1f} s"
    )

    full: list[float] = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        copies = facts(records)
        clusters = cluster(copies, rules)
        full.append(time.perf_counter() - t)
    precision, recall = pair_scores(clusters, truth)
    sizes = _counts(len(c.members) for c in clusters)
    print(
        f"full clustering: median {statistics.median(full):.2f} s ({len(clusters):,} clusters; sizes {dict(sorted(sizes.items()))})"
    )
    print(f"precision {precision:.4f}  recall {recall:.4f}  (targets: >= 0.99, >= 0.97)")

    # indexes the view keeps in the store: key -> holders, record -> keys, record -> cluster members
    by_id = {c.id: c for c in copies}
    holders: dict[str, list[str]] = defaultdict(list)
    for c in copies:
        for key in c.keys:
            holders[key].append(c.id)
    members_of = {m: c.members for c in clusters for m in c.members}
    rnd = random.Random(11)
    changed_n = int(len(records) * args.change)
    incremental: list[float] = []
    for _ in range(args.repeat):
        picked = rnd.sample(records, changed_n)
        new = {
            r: copy_of(
                r,
                s,
                Dataset(**{**_fields(d), "title": [Text(d.title[0].value + " (mis à jour)")]}),
                quality=50.0,
            )
            for r, s, d in picked
        }
        t = time.perf_counter()
        ids, generic = _closure_of(new, by_id, holders, members_of, rules.max_block)
        touched = cluster([new.get(i) or by_id[i] for i in ids], rules, generic=generic)
        incremental.append(time.perf_counter() - t)
    print(
        f"{args.change:.0%} change ({changed_n:,} records): median {statistics.median(incremental):.3f} s, "
        f"{len(ids):,} records re-clustered into {len(touched):,} clusters (target <= 2 s)"
    )

    if args.store or args.search:
        store_bench(records, truth, args)

    # baseline: all pairs within one publisher (no blocking keys), on a sample, extrapolated
    sample = copies[: len(copies) // 100]
    t = time.perf_counter()
    compared = 0
    for i, a in enumerate(sample):
        for b in sample[i + 1 :]:
            compared += bool(set(a.keys) & set(b.keys))
    per_pair = (time.perf_counter() - t) / max(1, len(sample) * (len(sample) - 1) // 2)
    all_pairs = per_pair * len(copies) * (len(copies) - 1) / 2
    print(
        f"baseline all pairs (extrapolated from 1%): {all_pairs:,.0f} s; ratio blocking/all-pairs {statistics.median(full) / all_pairs:.5f}"
    )


def store_bench(records, truth, args) -> None:
    """The view as a sync runs it: records in a SQLite store, `view.catch_up` full, then after a change."""
    import tempfile
    from pathlib import Path

    from fedcat.federation import view
    from fedcat.store import Store, Upsert, payload_hash
    from fedcat.store.federation import FederationTables

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "fedcat.db")
        t = time.perf_counter()
        by_source: dict[str, list] = defaultdict(list)
        for record_id, source, dataset in records:
            payload = dataset_to_json(dataset)
            by_source[source].append(
                Upsert(record_id, record_id, dataset, payload, "application/json", payload_hash(payload), "")
            )
        runs = {source: store.start_run(source) for source in SOURCES}
        for source, upserts in by_source.items():
            for start in range(0, len(upserts), 5000):
                store.save_page(source, runs[source], upserts[start : start + 5000], [])
        print(f"store: {len(records):,} records written in {time.perf_counter() - t:.1f} s")
        if args.search:  # the baseline index, a document per record, made before there are clusters
            plain = _index(store, Path(tmp) / "plain", clustered=False)
        t = time.perf_counter()
        view.catch_up(store)
        full = time.perf_counter() - t
        clusters = FederationTables(store)
        sizes = dict(
            store.db.execute("SELECT cluster, COUNT(*) FROM fed_members GROUP BY cluster").fetchall()
        )
        t = time.perf_counter()
        view.catch_up(store)
        idle = time.perf_counter() - t
        members = defaultdict(list)
        for member, cluster_id in store.db.execute("SELECT id, cluster FROM fed_members"):
            members[cluster_id].append(member)
        found = [Cluster(c, m, []) for c, m in members.items()]
        precision, recall = pair_scores(found, truth)
        print(
            f"store: full refresh {full:.2f} s ({len(sizes):,} clusters), nothing changed {idle:.3f} s; "
            f"precision {precision:.4f} recall {recall:.4f}"
        )
        rnd = random.Random(5)
        changes: list[float] = []
        for round_ in range(args.repeat):
            picked = rnd.sample(records, int(len(records) * args.change))
            changed: dict[str, list] = defaultdict(list)
            for record_id, source, dataset in picked:
                edited = Dataset(
                    **{**_fields(dataset), "title": [Text(f"{dataset.title[0].value} v{round_}")]}
                )
                payload = dataset_to_json(edited)
                changed[source].append(
                    Upsert(
                        record_id, record_id, edited, payload, "application/json", payload_hash(payload), ""
                    )
                )
            for source, upserts in changed.items():
                store.save_page(source, runs[source], upserts, [])
            t = time.perf_counter()
            entries = view.catch_up(store)
            changes.append(time.perf_counter() - t)
        print(
            f"store: {args.change:.0%} change re-clustered in median {statistics.median(changes):.3f} s "
            f"({entries:,} feed entries in the last round; target <= 2 s)"
        )
        # what collapsing adds to a search page: the copies of its 20 hits (`sources`), read from the store
        hits = [
            row[0] for row in store.db.execute("SELECT cluster FROM fed_members WHERE rank = 0 LIMIT 20000")
        ]
        lookups = []
        for start in range(0, 2000, 20):
            t = time.perf_counter()
            clusters.members(hits[start * 10 : start * 10 + 20])
            lookups.append(time.perf_counter() - t)
        lookups.sort()
        print(
            f"store: a search page's `sources` (20 hits): median {statistics.median(lookups) * 1000:.2f} ms, "
            f"p95 {lookups[int(len(lookups) * 0.95)] * 1000:.2f} ms"
        )
        if args.search:
            collapsed = _index(store, Path(tmp) / "clusters", clustered=True)
            _compare_search(plain, collapsed, args.repeat)
            plain.close()
            collapsed.close()
        store.close()


_CATCH_UP_ALONE = """
import hashlib, sys, time
from fedcat.federation import view
from fedcat.store import Store

def status(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field)) // 1024

store = Store(sys.argv[1])
before = status("VmRSS")
t, cpu = time.perf_counter(), time.process_time()
view.catch_up(store)
took, cpu = time.perf_counter() - t, time.process_time() - cpu
peak = status("VmHWM")
digest = hashlib.sha256()
for query in (
    "SELECT cluster, id, rank FROM fed_members ORDER BY cluster, rank",
    "SELECT cluster, a, b, rule, confidence FROM fed_links ORDER BY cluster, a, b",
    "SELECT id, version, facts FROM fed_copies ORDER BY id",
    "SELECT key, id FROM fed_keys ORDER BY key, id",
    "SELECT id, version, kind FROM changes WHERE kind = 'rescored' ORDER BY seq",
):
    for row in store.db.execute(query):
        digest.update(repr(tuple(row)).encode())
print(took, cpu, before, peak, digest.hexdigest()[:16])
"""


def memory_bench(sizes: list[int], args) -> None:
    """Each size's store generated once; the first catch_up alone, in a fresh process per run (VmHWM)."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from fedcat.store import Store, Upsert, payload_hash

    trees = [("this tree", sys.executable)] + ([("against", args.against)] if args.against else [])
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            records, _truth = generate(size, args.duplicates)
            store = Store(Path(tmp) / "made.db")
            runs = {source: store.start_run(source) for source in SOURCES}
            by_source: dict[str, list] = defaultdict(list)
            for record_id, source, dataset in records:
                payload = dataset_to_json(dataset)
                by_source[source].append(
                    Upsert(
                        record_id, record_id, dataset, payload, "application/json", payload_hash(payload), ""
                    )
                )
            del records
            for source, upserts in by_source.items():
                for start in range(0, len(upserts), 5000):
                    store.save_page(source, runs[source], upserts[start : start + 5000], [])
            del by_source
            store.close()
            cpus: dict[str, list[float]] = {}
            for _ in range(args.repeat):
                for name, python in trees:  # alternating: the same load for both
                    copy = Path(tmp) / "run.db"
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{copy}{suffix}").unlink(missing_ok=True)
                    shutil.copy(Path(tmp) / "made.db", copy)
                    out = subprocess.run(
                        [python, "-c", _CATCH_UP_ALONE, str(copy)],
                        capture_output=True,
                        text=True,
                        check=True,
                        cwd=tmp,
                        env={**os.environ, "PYTHONPATH": ""},
                    ).stdout.split()
                    took, cpu, before, peak, digest = (
                        float(out[0]),
                        float(out[1]),
                        int(out[2]),
                        int(out[3]),
                        out[4],
                    )
                    cpus.setdefault(name, []).append(cpu)
                    print(
                        f"{size:,} records, {name}: first catch_up {took:.1f} s, CPU {cpu:.2f} s"
                        f" ({cpu / size * 1e6:.0f} µs a record), peak RSS {peak} MB "
                        f"(+{peak - before} MB over {before} MB before: {(peak - before) * 1024 / size:.2f} KB a "
                        f"record), result digest {digest}, load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
            medians = {name: statistics.median(values) for name, values in cpus.items()}
            print(
                f"{size:,} records, median CPU of the first catch_up: "
                + ", ".join(f"{name} {m / size * 1e6:.0f} µs a record" for name, m in medians.items())
                + (
                    f"; this tree = {medians['this tree'] / medians['against']:.0%} of the other"
                    if args.against
                    else ""
                )
            )
            for suffix in ("", "-wal", "-shm"):
                Path(f"{Path(tmp) / 'made.db'}{suffix}").unlink(missing_ok=True)


def _index(store, path, *, clustered: bool):
    """An embedded index of the whole store: one document per cluster (the sync's), or, made before the
    federation view ran, one per record (under a cursor of its own)."""
    from fedcat.indexer import derived
    from fedcat.indexer.backend import SearchQuery
    from fedcat.indexer.documents import SearchView, sync_index
    from fedcat.indexer.embedded import EmbeddedBackend
    from fedcat.store import feed

    backend = EmbeddedBackend(path, answer_cache=0)  # answers not kept: repeats would time the cache
    t = time.perf_counter()
    if clustered:
        sync_index(store, backend)
    else:
        jurisdictions = {s["id"]: s["jurisdiction"] for s in store.sources()}
        baseline = SearchView(store, backend, jurisdictions, derived.refresh(store))
        baseline.name = "bench-one-document-per-record"
        feed.catch_up(store, baseline, batch=5000)
    kind = "one document per cluster" if clustered else "one document per record"
    documents = backend.search(SearchQuery(facets=(), page_size=1)).total
    print(f"index ({kind}): {documents:,} documents in {time.perf_counter() - t:.1f} s")
    return backend


def _compare_search(plain, collapsed, repeat: int) -> None:
    """The same searches (20 hits, every facet) on both indexes, interleaved; p50 / p95 per index."""
    from fedcat.indexer.backend import FACETS, SearchQuery

    words = ["", "budget", "arbres alignement", "velo", "qualite air", "2003", "elections", "commune17"]
    queries = [SearchQuery(q=w, facets=FACETS) for w in words]
    queries += [
        SearchQuery(
            q=w,
            facets=FACETS,
            filters={"format": ["http://publications.europa.eu/resource/authority/file-type/CSV"]},
        )
        for w in words[:3]
    ]
    times: dict[str, list[float]] = {"uncollapsed": [], "collapsed": []}
    for backend in (plain, collapsed):  # warm-up
        for query in queries:
            backend.search(query)
    for _ in range(max(repeat, 1) * 10):
        for query in queries:
            for name, backend in (("uncollapsed", plain), ("collapsed", collapsed)):
                t = time.perf_counter()
                backend.search(query)
                times[name].append(time.perf_counter() - t)
    p95 = {}
    for name, found in times.items():
        found.sort()
        p95[name] = found[int(len(found) * 0.95)]
        print(
            f"search ({name}, {len(found)} searches, every facet): median {statistics.median(found) * 1000:.1f} ms, "
            f"p95 {p95[name] * 1000:.1f} ms"
        )
    print(f"search p95 collapsed / uncollapsed: {p95['collapsed'] / p95['uncollapsed']:.2f} (target <= 1.2)")


def _closure_of(new, by_id, holders, members_of, max_block):
    """What the view does on a change: the changed records' new keys join the holders, then the closure."""
    new_holders: dict[str, set[str]] = defaultdict(set)
    for c in new.values():
        for key in c.keys:
            new_holders[key].add(c.id)
    return closure(
        list(new),
        lambda batch: [k for i in batch for c in (by_id[i], new.get(i)) if c for k in c.keys],
        lambda keys: {k: sorted(set(holders.get(k, ())) | new_holders.get(k, set())) for k in keys},
        lambda batch: [m for i in batch for m in members_of.get(i, ())],
        Overrides(),
        max_block,
    )


def _fields(d: Dataset) -> dict:
    return {f: getattr(d, f) for f in d.__struct_fields__}


if __name__ == "__main__":
    main()
