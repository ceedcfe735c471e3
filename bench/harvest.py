"""Harvest benchmark: a generated DCAT-AP catalogue, served Hydra-paged over loopback, harvested end to end.

    python bench/harvest.py                        # 100,000 datasets, memory check at 20,000 too
    python bench/harvest.py --size 20000 --repeat 1 --memory-sizes ""    # a quick run
    python bench/harvest.py --profile prof.out     # cProfile the first harvest (one repeat)
    python bench/harvest.py --inprocess            # also first harvests without the DCAT parsing process
    python bench/harvest.py --portals 20000        # and the udata + Opendatasoft benches (bench/portals.py)
    python bench/harvest.py --size 20000 --memory-sizes '' --no-full-check --against ../base/.venv/bin/python
                                                   # old code vs new: first harvests alternating

What it measures, every figure from this run (the machine is noisy: medians, and ratios to baselines taken
in the same run):

- the first harvest of an empty store, with the real code and the real embedded (tantivy) backend:
  `harvest(config, store, backend)` = fetch → parse → normalise → store → index, in datasets/s, with the
  time `harvest()` spends after the pages (`sync_index`, `sync_sparql`) apart;
- CPU per dataset: the harvesting thread, the process's other threads (tantivy's indexing threads) and the
  DCAT adapter's parsing process; on a busy machine this says more than the wall clock (two idle cores
  give at most 2,000,000 / total µs datasets/s); the same until the pages are done, without the sync
  after them (the federation's clustering, the index's catch-up);
- the peak RSS of the harvesting process (a fresh `spawn` child per harvest, `ru_maxrss`; the server runs
  in another process so its memory does not count) and of its parsing process (`RUSAGE_CHILDREN`), at the
  main size and at the memory-check sizes;
- the re-harvest of the unchanged source: every page answers 304 to the conditional GET, the run touches
  the page's records without parsing; time and ratio to the first harvest;
- a full re-harvest without conditional GET (`full=True`): every page is fetched and parsed again and every
  record must hash as before (blank nodes canonicalised), so nothing is re-normalised or re-indexed;
- with `--against PYTHON` (another checkout's venv interpreter, e.g. main's): that code's first harvests,
  alternating with this tree's, the same figures for it and the ratios of the medians;
- baselines: parse-only rates of rdflib (`Graph().parse`) and pyoxigraph (`parse`, streaming) on a sample
  of the same pages, in datasets/s.

The catalogue is generated page by page, deterministically from the page number (no page is held in memory
beyond the one being served and the next one, prepared ahead in a thread like a portal's cache would).
Each dataset is ~47 triples (with its share of the page's catalogue and publisher triples): fr+en title and description, keywords, EU data themes, a publisher (a shared
foaf:Agent IRI described on the page), a blank-node contact point and temporal period, two distributions
with access/download URLs, EU file type, IANA media type, licence, dates, spatial coverage.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from processes import in_child, start_server

PAGE_SIZE = 1000
SEED = 20240601
ORIGIN = "https://opendata.example.fr"

# --- vocabulary pools for realistic text ----------------------------------------------------------------

EU = "http://publications.europa.eu/resource/authority/"
THEMES = (
    "AGRI",
    "ECON",
    "EDUC",
    "ENER",
    "ENVI",
    "GOVE",
    "HEAL",
    "INTR",
    "JUST",
    "REGI",
    "SOCI",
    "TECH",
    "TRAN",
)
FILE_TYPES = (
    ("CSV", "text/csv"),
    ("JSON", "application/json"),
    ("GEOJSON", "application/geo+json"),
    ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("SHP", "application/x-shapefile"),
    ("PDF", "application/pdf"),
    ("XML", "application/xml"),
    ("ZIP", "application/zip"),
)
LICENCES = (
    "https://www.etalab.gouv.fr/licence-ouverte-open-licence",
    EU + "licence/CC_BY_4_0",
    EU + "licence/ODC_BY",
    "https://opendatacommons.org/licenses/odbl/1-0/",
    EU + "licence/CC0",
)
FREQUENCIES = ("ANNUAL", "MONTHLY", "WEEKLY", "DAILY", "QUARTERLY", "IRREG", "UNKNOWN")
PLACES = (
    ("Lille", "59350"),
    ("Lyon", "69123"),
    ("Marseille", "13055"),
    ("Toulouse", "31555"),
    ("Nantes", "44109"),
    ("Strasbourg", "67482"),
    ("Montpellier", "34172"),
    ("Bordeaux", "33063"),
    ("Rennes", "35238"),
    ("Grenoble", "38185"),
    ("Dijon", "21231"),
    ("Angers", "49007"),
    ("Nîmes", "30189"),
    ("Besançon", "25056"),
    ("Orléans", "45234"),
    ("Rouen", "76540"),
    ("Metz", "57463"),
    ("Saint-Étienne", "42218"),
    ("Le Havre", "76351"),
    ("Clermont-Ferrand", "63113"),
    ("Brest", "29019"),
    ("Tours", "37261"),
    ("Amiens", "80021"),
    ("Limoges", "87085"),
    ("Annecy", "74010"),
    ("Perpignan", "66136"),
    ("Nancy", "54395"),
    ("Poitiers", "86194"),
    ("Pau", "64445"),
    ("La Rochelle", "17300"),
)
# (French subject, English subject, theme, French keywords, English keywords)
SUBJECTS = (
    ("Qualité de l'air", "Air quality", "ENVI", ("pollution", "air", "ozone"), ("pollution", "air")),
    ("Stationnement vélo", "Bicycle parking", "TRAN", ("vélo", "stationnement", "mobilité"), ("cycling",)),
    ("Budget primitif", "Initial budget", "ECON", ("budget", "finances publiques", "comptes"), ("budget",)),
    (
        "Arbres d'alignement",
        "Street trees",
        "ENVI",
        ("arbres", "patrimoine arboré", "espaces verts"),
        ("trees",),
    ),
    (
        "Horaires des bibliothèques",
        "Library opening hours",
        "EDUC",
        ("bibliothèques", "horaires"),
        ("library",),
    ),
    (
        "Délibérations du conseil municipal",
        "City council decisions",
        "GOVE",
        ("délibérations", "conseil"),
        ("council",),
    ),
    (
        "Consommation électrique des bâtiments",
        "Electricity use of buildings",
        "ENER",
        ("énergie", "électricité"),
        ("energy",),
    ),
    (
        "Accidents corporels de la circulation",
        "Road traffic injuries",
        "TRAN",
        ("sécurité routière", "accidents"),
        ("road safety",),
    ),
    ("Équipements sportifs", "Sports facilities", "SOCI", ("sport", "équipements", "gymnases"), ("sport",)),
    ("Défibrillateurs", "Defibrillators", "HEAL", ("santé", "défibrillateurs", "DAE"), ("health",)),
    (
        "Points de collecte du verre",
        "Glass recycling points",
        "ENVI",
        ("déchets", "recyclage", "verre"),
        ("waste",),
    ),
    (
        "Marchés publics attribués",
        "Awarded public contracts",
        "ECON",
        ("marchés publics", "commande publique"),
        ("procurement",),
    ),
    ("Effectifs scolaires", "School enrolment", "EDUC", ("écoles", "élèves", "éducation"), ("schools",)),
    (
        "Bornes de recharge",
        "Charging stations",
        "ENER",
        ("IRVE", "véhicules électriques", "recharge"),
        ("electric vehicles",),
    ),
    (
        "Parcelles agricoles",
        "Agricultural parcels",
        "AGRI",
        ("agriculture", "parcelles", "RPG"),
        ("farming",),
    ),
    (
        "Fréquentation des transports en commun",
        "Public transport ridership",
        "TRAN",
        ("transports", "bus", "tramway"),
        ("transit",),
    ),
    (
        "Subventions aux associations",
        "Grants to associations",
        "GOVE",
        ("subventions", "associations"),
        ("grants",),
    ),
    ("Zones inondables", "Flood zones", "ENVI", ("risques", "inondation", "PPRI"), ("flood risk",)),
    (
        "Permis de construire",
        "Building permits",
        "REGI",
        ("urbanisme", "permis", "construction"),
        ("planning",),
    ),
    ("Population légale", "Legal population", "SOCI", ("population", "recensement", "INSEE"), ("census",)),
)
ORGS_FR = ("Ville de", "Métropole de", "Communauté d'agglomération de", "Syndicat mixte des transports de")
ORGS_EN = ("City of", "Metropolis of", "Urban community of", "Transport authority of")
SENTENCES_FR = (
    "Ce jeu de données porte sur le thème « {s} » sur le territoire {p}.",
    "Les données sont mises à jour {f} par les services de la collectivité.",
    "Chaque enregistrement comporte une localisation, une date et un identifiant unique.",
    "Les valeurs manquantes sont laissées vides ; les coordonnées sont exprimées en WGS 84.",
    "La méthodologie de collecte est décrite dans la documentation associée.",
    "Ces informations sont publiées dans le cadre de l'ouverture des données publiques.",
)
SENTENCES_EN = (
    "This dataset lists {s} in {p}.",
    "The data is updated {f} by the local authority's departments.",
    "Each record has a location, a date and a unique identifier.",
    "Missing values are left empty; coordinates are in WGS 84.",
    "The collection method is described in the attached documentation.",
)
FREQ_WORDS = {"ANNUAL": ("chaque année", "yearly"), "MONTHLY": ("chaque mois", "monthly"),
              "WEEKLY": ("chaque semaine", "weekly"), "DAILY": ("chaque jour", "daily"),
              "QUARTERLY": ("chaque trimestre", "quarterly"), "IRREG": ("irrégulièrement", "irregularly"),
              "UNKNOWN": ("ponctuellement", "occasionally")}  # fmt: skip
PUBLISHERS = 240  # shared foaf:Agent IRIs: each page describes the ones its datasets use

PREFIXES = """@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
@prefix vcard: <http://www.w3.org/2006/vcard/ns#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix hydra: <http://www.w3.org/ns/hydra/core#> .
@prefix theme: <http://publications.europa.eu/resource/authority/data-theme/> .
@prefix ft: <http://publications.europa.eu/resource/authority/file-type/> .
@prefix freq: <http://publications.europa.eu/resource/authority/frequency/> .
@prefix lang: <http://publications.europa.eu/resource/authority/language/> .
@prefix org: <https://opendata.example.fr/organisations/> .
@prefix ds: <https://opendata.example.fr/datasets/> .
@prefix insee: <http://id.insee.fr/geo/commune/> .

"""


def _lit(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _publisher(p: int) -> tuple[str, str, str]:
    place = PLACES[p % len(PLACES)][0]
    kind = (p // len(PLACES)) % len(ORGS_FR)
    de = ORGS_FR[kind][:-2] + "d'" if place[0] in "AEIOUÉ" else ORGS_FR[kind] + " "  # Ville d'Angers
    return f"org:o{p}", f"{de}{place}", f"{ORGS_EN[kind]} {place}"


def _dataset(i: int, rng: random.Random, publishers: set[int]) -> str:
    subject_fr, subject_en, theme, kw_fr, kw_en = SUBJECTS[rng.randrange(len(SUBJECTS))]
    place, insee = PLACES[rng.randrange(len(PLACES))]
    year = 2012 + rng.randrange(13)
    freq = FREQUENCIES[rng.randrange(len(FREQUENCIES))]
    fr_freq, en_freq = FREQ_WORDS[freq]
    p = rng.randrange(PUBLISHERS)
    publishers.add(p)
    org = _publisher(p)
    licence = LICENCES[rng.randrange(len(LICENCES))]
    themes = [theme] if rng.random() < 0.6 else [theme, THEMES[rng.randrange(len(THEMES))]]
    if len(themes) == 2 and themes[0] == themes[1]:
        themes.pop()
    s_fr = subject_fr[0].lower() + subject_fr[1:]
    desc_fr = " ".join(
        [
            SENTENCES_FR[0].format(s=s_fr, p=("d'" if place[0] in "AEIOUÉ" else "de ") + place),
            SENTENCES_FR[1].format(f=fr_freq),
            *rng.sample(SENTENCES_FR[2:], 2),
        ]
    )
    desc_en = " ".join(
        [
            SENTENCES_EN[0].format(s=subject_en.lower(), p=place),
            SENTENCES_EN[1].format(f=en_freq),
            *rng.sample(SENTENCES_EN[2:], 1),
        ]
    )
    month, day = 1 + rng.randrange(12), 1 + rng.randrange(28)
    mod_year = min(2025, year + rng.randrange(3))
    slug = f"d{i}"
    keywords = ", ".join([*(_lit(k) + "@fr" for k in kw_fr), *(_lit(k) + "@en" for k in kw_en)])
    dists = []
    for n in (1, 2):
        ext, media = FILE_TYPES[rng.randrange(len(FILE_TYPES))] if n == 2 else FILE_TYPES[0]
        url = f"{ORIGIN}/files/{slug}/{n}.{ext.lower()}"
        dists.append(
            f"ds:{slug}-r{n} a dcat:Distribution ;\n"
            f"  dct:title {_lit(f'{subject_fr} {place} {year} ({ext})')}@fr ;\n"
            f"  dcat:accessURL <{ORIGIN}/datasets/{slug}/resources/{n}> ;\n"
            f"  dcat:downloadURL <{url}> ;\n"
            f"  dct:format ft:{ext} ;\n"
            f"  dcat:mediaType <https://www.iana.org/assignments/media-types/{media}> ;\n"
            f"  dct:license <{licence}> ;\n"
            f'  dcat:byteSize "{1000 + rng.randrange(50_000_000)}"^^xsd:nonNegativeInteger .\n'
        )
    return (
        f"ds:{slug} a dcat:Dataset ;\n"
        f'  dct:identifier "{slug}" ;\n'
        f"  dct:title {_lit(f'{subject_fr} - {place} - {year}')}@fr, {_lit(f'{subject_en} - {place} - {year}')}@en ;\n"
        f"  dct:description {_lit(desc_fr)}@fr, {_lit(desc_en)}@en ;\n"
        f"  dcat:keyword {keywords} ;\n"
        f"  dcat:theme {', '.join('theme:' + t for t in themes)} ;\n"
        f"  dct:publisher {org[0]} ;\n"
        f"  dcat:contactPoint [ a vcard:Organization ; vcard:fn {_lit('Service open data - ' + place)} ;"
        f" vcard:hasEmail <mailto:opendata-{insee}@example.fr> ] ;\n"
        f"  dcat:distribution ds:{slug}-r1, ds:{slug}-r2 ;\n"
        f"  dct:license <{licence}> ;\n"
        f'  dct:issued "{year}-{month:02d}-{day:02d}"^^xsd:date ;\n'
        f'  dct:modified "{mod_year}-{month:02d}-{day:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"^^xsd:dateTime ;\n'
        f"  dct:temporal [ a dct:PeriodOfTime ; dcat:startDate"
        f' "{year}-01-01"^^xsd:date ; dcat:endDate "{year}-12-31"^^xsd:date ] ;\n'
        f"  dct:spatial insee:{insee} ;\n"
        f"  dct:accrualPeriodicity freq:{freq} ;\n"
        f"  dct:language lang:FRA ;\n"
        f"  dcat:landingPage <{ORIGIN}/datasets/{slug}> .\n" + "".join(dists)
    )


def page_count(size: int, per_page: int = PAGE_SIZE) -> int:
    return max(1, -(-size // per_page))


def page_turtle(number: int, size: int, base_url: str, per_page: int = PAGE_SIZE) -> bytes:
    """Page `number` (from 1) of a `size`-dataset catalogue: the same bytes every time."""
    rng = random.Random(SEED * 1_000_003 + number)
    first = (number - 1) * per_page
    ids = range(first, min(size, first + per_page))
    publishers: set[int] = set()
    body = [_dataset(i, rng, publishers) for i in ids]
    last = page_count(size, per_page)
    view = f"{base_url}/catalog?page={number}"
    head = [
        PREFIXES,
        f"<{ORIGIN}/catalog> a dcat:Catalog, hydra:Collection ;\n"
        f'  dct:title "Catalogue de démonstration"@fr, "Demo catalogue"@en ;\n'
        f'  hydra:totalItems "{size}"^^xsd:integer ;\n'
        f"  hydra:view <{view}> ;\n"
        f"  dcat:dataset {', '.join(f'ds:d{i}' for i in ids)} .\n",
        f"<{view}> a hydra:PartialCollectionView ;\n"
        f"  hydra:first <{base_url}/catalog?page=1> ;\n"
        f"  hydra:last <{base_url}/catalog?page={last}>"
        + (f" ;\n  hydra:next <{base_url}/catalog?page={number + 1}>" if number < last else "")
        + " .\n",
    ]
    for p in sorted(publishers):
        iri, fr, en = _publisher(p)
        head.append(
            f"{iri} a foaf:Agent, foaf:Organization ; foaf:name {_lit(fr)}@fr, {_lit(en)}@en ;"
            f" foaf:homepage <{ORIGIN}/organisations/o{p}> .\n"
        )
    return "".join(head + body).encode("utf-8")


# --- the server (its own process) -------------------------------------------------------------------------


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'  # PortalServer's own ETag


def serve(size: int, ready: mp.Queue, stop: mp.Event) -> None:  # type: ignore[valid-type]
    """Serve the catalogue at /catalog?page=N until `stop` is set (runs in a child process)."""
    from fedcat.demo.portal import PortalServer, Reply, Request

    server = PortalServer()
    base_url = server.base_url
    etags: dict[int, str] = {}  # the validators of pages served: a few bytes each
    ahead: dict[int, bytes] = {}  # the next page, prepared while the client works on this one
    lock = threading.Lock()

    def prepare(number: int) -> None:
        body = page_turtle(number, size, base_url)
        with lock:
            ahead.clear()
            ahead[number] = body

    def page(request: Request) -> Reply | None:
        try:
            number = int(request.query.get("page", ["1"])[0])
        except ValueError:
            return None
        if not 1 <= number <= page_count(size):
            return None
        known = etags.get(number)
        if known is not None and request.headers.get("If-None-Match") == known:
            # a portal answers a matching validator from its cache, without rebuilding the page
            return Reply(b"", status=304, headers={"ETag": known})
        with lock:
            body = ahead.pop(number, None)
        if body is None:
            body = page_turtle(number, size, base_url)
        etags[number] = _etag(body)
        if number < page_count(size):
            threading.Thread(target=prepare, args=(number + 1,), daemon=True).start()
        return Reply(body, "text/turtle; charset=utf-8")

    server.handle("/catalog", page)
    server.start()
    ready.put(base_url)
    stop.wait()
    server.stop()


# --- the harvesting process -------------------------------------------------------------------------------


def _config(base_url: str, parse_worker: bool | None = None):
    from fedcat.harvester.sources import parse_config

    source = {
        "id": "bench",
        "name": "Generated DCAT-AP catalogue",
        "type": "dcat",
        "url": f"{base_url}/catalog?page=1",
        "jurisdiction": {"level": "country", "code": "FR"},
    }
    if parse_worker is not None:
        source["options"] = {"parse_worker": parse_worker}
    return parse_config(
        {"settings": {"base_url": "http://fedcat.test", "page_size": PAGE_SIZE}, "sources": [source]}
    )


def harvest_child(
    base_url: str,
    workdir: str,
    full: bool,
    profile: str | None,
    parse_worker: bool | None,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """One harvest in a fresh process; reports its time, CPU, counts and peak RSS (its own and its parsing
    process's: a child it waits for, so RUSAGE_CHILDREN holds it)."""
    import fedcat.harvester.run as run_module
    from fedcat.harvester.run import harvest
    from fedcat.indexer.embedded import EmbeddedBackend
    from fedcat.store import Store

    config = _config(base_url, parse_worker)
    store = Store(Path(workdir) / "store.db")
    backend = EmbeddedBackend(Path(workdir) / "index")
    phases: dict[str, float] = {}
    marks: dict[str, float] = {}  # the peak RSS when the pages are done (before the sync)
    for name in ("sync_index", "sync_sparql"):  # what harvest() does after the pages, timed apart
        if hasattr(run_module, name):
            setattr(run_module, name, _timed(getattr(run_module, name), name, phases, marks))
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    load = os.getloadavg()[0]
    started, main_started, process_started = time.perf_counter(), time.thread_time(), time.process_time()
    results = harvest(config, store, backend, full=full)
    elapsed = time.perf_counter() - started
    main_cpu, process_cpu = time.thread_time() - main_started, time.process_time() - process_started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    from fedcat.store import feed

    pending = feed.behind(store, "search")
    stored = store.count("bench")
    indexed = len(backend.ids())
    backend.close()
    store.close()
    out.put(
        {
            "elapsed": elapsed,
            "status": results[0].status,
            "message": results[0].message,
            "counts": dict(results[0].counts),
            "stored": stored,
            "indexed": indexed,
            "pending": pending,
            "rss_mb": rss,
            "worker_rss_mb": children.ru_maxrss / 1024,
            "main_cpu": main_cpu,
            "threads_cpu": process_cpu - main_cpu,  # the search engine's indexing threads, mostly
            "worker_cpu": children.ru_utime + children.ru_stime,
            "load": (load + os.getloadavg()[0]) / 2,
            "phases": phases,
            "rss_pages_mb": marks.get("rss_pages_mb", 0.0),
            "main_cpu_pages": marks.get("main_cpu_pages", main_started + main_cpu) - main_started,
            "threads_cpu_pages": marks.get("process_cpu_pages", process_started + process_cpu)
            - process_started
            - (marks.get("main_cpu_pages", main_started + main_cpu) - main_started),
        }
    )


def _timed(function, name: str, phases: dict[str, float], marks: dict[str, float]):
    def timed(*args, **kwargs):
        started = time.perf_counter()
        if name == "sync_index":  # the peak so far is the pages'; the sync after them may raise it
            marks.setdefault("rss_pages_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            # and the CPU so far is the pages' (the sync is the federation's and the index's catch-up)
            marks.setdefault("main_cpu_pages", time.thread_time())
            marks.setdefault("process_cpu_pages", time.process_time())
        try:
            return function(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - started

    return timed


def parse_child(size: int, pages: list[int], engine: str, out: mp.Queue) -> None:  # type: ignore[valid-type]
    """Parse-only rate of one engine on sample pages (generated here, not timed), datasets/s per page."""
    rates = []
    for number in pages:
        data = page_turtle(number, size, "http://127.0.0.1:1")
        datasets = min(PAGE_SIZE, size - (number - 1) * PAGE_SIZE)
        if engine == "rdflib":
            import rdflib

            started = time.perf_counter()
            graph = rdflib.Graph().parse(data=data, format="turtle", publicID="http://127.0.0.1:1/catalog")
            triples = len(graph)
        else:
            import pyoxigraph

            started = time.perf_counter()
            triples = sum(1 for _ in pyoxigraph.parse(data, pyoxigraph.RdfFormat.TURTLE))
        elapsed = time.perf_counter() - started
        rates.append(datasets / elapsed)
    out.put({"rates": rates, "triples_per_dataset": triples / datasets, "bytes": len(data)})


def _check(result: dict, size: int, what: str, expect: dict[str, int]) -> list[str]:
    problems = []
    if result["status"] != "complete":
        problems.append(f"{what}: status {result['status']} ({result['message']})")
    for key, value in expect.items():
        if result["counts"].get(key, 0) != value:
            problems.append(f"{what}: {key} = {result['counts'].get(key, 0)}, expected {value}")
    if result["stored"] != size or result["indexed"] != size or result["pending"]:
        problems.append(
            f"{what}: stored {result['stored']}, indexed {result['indexed']}, pending {result['pending']}"
        )
    return problems


def run_size(
    size: int,
    repeat: int,
    full_check: bool,
    profile: str | None,
    inprocess: bool,
    against: str | None = None,
) -> dict:
    """First harvests on fresh stores (median), the re-harvest with 304s, optional full re-harvest and
    in-process (no parsing process) first harvests, and the `against` interpreter's first harvests,
    interleaved with the others."""
    server, stop, base_url = start_server(serve, size)
    firsts, local, problems, theirs = [], [], [], []
    again = full = None
    try:
        for attempt in range(repeat):
            if against:
                with tempfile.TemporaryDirectory(prefix="fedcat-bench-") as workdir:
                    result = in_child(harvest_child, base_url, workdir, False, None, None, executable=against)
                    problems += _check(result, size, "baseline harvest", {"created": size, "seen": size})
                    theirs.append(result)
            if inprocess:
                with tempfile.TemporaryDirectory(prefix="fedcat-bench-") as workdir:
                    result = in_child(harvest_child, base_url, workdir, False, None, False)
                    problems += _check(result, size, "in-process harvest", {"created": size, "seen": size})
                    local.append(result)
            with tempfile.TemporaryDirectory(prefix="fedcat-bench-") as workdir:
                prof = profile if (profile and attempt == 0) else None
                first = in_child(harvest_child, base_url, workdir, False, prof, None)
                problems += _check(first, size, "first harvest", {"created": size, "seen": size})
                firsts.append(first)
                if attempt == repeat - 1:  # the re-harvests run on the last store
                    again = in_child(harvest_child, base_url, workdir, False, None, None)
                    problems += _check(
                        again, size, "re-harvest", {"unchanged": size, "created": 0, "updated": 0}
                    )
                    if full_check:
                        full = in_child(harvest_child, base_url, workdir, True, None, None)
                        problems += _check(
                            full, size, "full re-harvest", {"unchanged": size, "created": 0, "updated": 0}
                        )
    finally:
        stop.set()
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
    return {
        "size": size,
        "firsts": firsts,
        "local": local,
        "theirs": theirs,
        "again": again,
        "full": full,
        "problems": problems,
    }


def _summary(runs: list[dict], size: int) -> dict:
    """Medians of a set of first harvests: rate, CPU µs per dataset, peak RSS (max)."""

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return {
        "elapsed": med("elapsed"),
        "rate": size / med("elapsed"),
        "rates": [size / r["elapsed"] for r in runs],
        "main_us": med("main_cpu") / size * 1e6,
        "main_pages_us": med("main_cpu_pages") / size * 1e6,
        "threads_pages_us": med("threads_cpu_pages") / size * 1e6,
        "threads_us": med("threads_cpu") / size * 1e6,
        "worker_us": med("worker_cpu") / size * 1e6,
        "rss": max(r["rss_mb"] for r in runs),
        "rss_pages": max(r["rss_pages_mb"] for r in runs),
        "worker_rss": max(r["worker_rss_mb"] for r in runs),
        "load": med("load"),
        "phases": {k: statistics.median(r["phases"].get(k, 0.0) for r in runs) for k in runs[0]["phases"]},
    }


def _cpu(s: dict) -> str:
    total = s["main_us"] + s["threads_us"] + s["worker_us"]
    return (
        f"{s['main_us']:.0f} harvesting thread + {s['threads_us']:.0f} indexing threads"
        f" + {s['worker_us']:.0f} parsing process = {total:.0f} µs"
    )


def _rss(s: dict) -> str:
    if not s["worker_rss"]:
        return f"{s['rss']:.0f} MB"
    return (
        f"{s['rss']:.0f} MB + parsing process {s['worker_rss']:.0f} MB = {s['rss'] + s['worker_rss']:.0f} MB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size", type=int, default=100_000, help="datasets in the catalogue (default 100,000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="first harvests at --size (median reported)")
    parser.add_argument(
        "--memory-sizes",
        default="20000",
        help="other catalogue sizes whose peak RSS is measured too, comma-separated ('' for none)",
    )
    parser.add_argument(
        "--parse-pages", type=int, default=5, help="sample pages for the parse-only baselines"
    )
    parser.add_argument("--no-full-check", action="store_true", help="skip the full re-harvest (no 304s)")
    parser.add_argument(
        "--inprocess", action="store_true", help="also time first harvests without the parsing process"
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the first harvest at --size into FILE")
    parser.add_argument(
        "--portals",
        type=int,
        default=0,
        metavar="N",
        help="also run bench/portals.py's udata and Opendatasoft harvests of N datasets each (0: not)",
    )
    parser.add_argument(
        "--against",
        metavar="PYTHON",
        help="another checkout's venv interpreter (e.g. main's): its first harvests alternate with this tree's",
    )
    parser.add_argument("--dump-page", type=int, metavar="N", help="print page N's Turtle and exit")
    args = parser.parse_args(argv)
    if args.dump_page:
        sys.stdout.write(page_turtle(args.dump_page, args.size, "http://127.0.0.1:8000").decode())
        return 0

    print(f"fedcat harvest bench: {args.size:,} datasets, pages of {PAGE_SIZE:,}, {os.cpu_count()} CPUs")
    sample = sorted({1 + (k * page_count(args.size)) // args.parse_pages for k in range(args.parse_pages)})
    oxi = in_child(parse_child, args.size, sample, "pyoxigraph")
    rdf = in_child(parse_child, args.size, sample[:3], "rdflib")
    print(
        f"page: {oxi['bytes'] / 1e6:.2f} MB of Turtle, {oxi['triples_per_dataset']:.1f} triples per dataset"
    )

    main_run = run_size(
        args.size, args.repeat, not args.no_full_check, args.profile, args.inprocess, args.against
    )
    others = [
        run_size(int(s), 1, False, None, False)
        for s in args.memory_sizes.split(",")
        if s.strip() and int(s) != args.size
    ]

    first = _summary(main_run["firsts"], args.size)
    oxi_rate, rdf_rate = statistics.median(oxi["rates"]), statistics.median(rdf["rates"])
    again, full = main_run["again"], main_run["full"]
    rates = ", ".join(f"{r:,.0f}" for r in first["rates"])
    print()
    print("| measure | value | target |")
    print("| --- | --- | --- |")
    print(
        f"| first harvest, end to end | **{first['rate']:,.0f} datasets/s** ({first['elapsed']:.1f} s;"
        f" runs {rates}/s; load average {first['load']:.1f}) | ≥ 3,200/s |"
    )
    print(f"| CPU per dataset, first harvest | {_cpu(first)} | ≤ 550 µs a role |")
    pages_total = first["main_pages_us"] + first["threads_pages_us"] + first["worker_us"]
    print(
        f"| CPU per dataset, until the pages are done | {first['main_pages_us']:.0f} harvesting thread"
        f" + {first['threads_pages_us']:.0f} indexing threads + {first['worker_us']:.0f} parsing process"
        f" = {pages_total:.0f} µs (the rest is the sync after them) | — |"
    )
    if first["phases"]:
        pages = first["elapsed"] - sum(first["phases"].values())
        after = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in first["phases"].items())
        print(
            f"| where the time goes | pages (fetch, parse, map, store, index) {pages:.1f} s"
            f" = {args.size / pages:,.0f} datasets/s; then {after} | — |"
        )
    print(
        f"| peak RSS, first harvest at {args.size:,} | {_rss(first)}"
        f" (harvesting process {first['rss_pages']:.0f} MB until the pages are done) | ≤ 300 MB |"
    )
    for other in others:
        o = _summary(other["firsts"], other["size"])
        print(
            f"| peak RSS, first harvest at {other['size']:,} | {_rss(o)}"
            f" ({o['rate']:,.0f} datasets/s) | ≤ 300 MB |"
        )
    if main_run["local"]:
        local = _summary(main_run["local"], args.size)
        print(
            f"| first harvest without the parsing process | {local['rate']:,.0f} datasets/s"
            f" ({local['elapsed']:.1f} s); CPU {_cpu(local)}; peak RSS {_rss(local)} | — |"
        )
    if main_run["theirs"]:
        base = _summary(main_run["theirs"], args.size)
        base_pages = base["main_pages_us"] + base["threads_pages_us"] + base["worker_us"]
        print(
            f"| baseline ({args.against}), alternating | {base['rate']:,.0f} datasets/s"
            f" ({base['elapsed']:.1f} s; load average {base['load']:.1f}): this tree"
            f" **{first['rate'] / base['rate']:.2f}×**; CPU {_cpu(base)}; until the pages are done"
            f" {base['main_pages_us']:.0f} harvesting thread + {base['threads_pages_us']:.0f} indexing threads"
            f" + {base['worker_us']:.0f} parsing process = {base_pages:.0f} µs (this tree: {pages_total:.0f});"
            f" peak RSS {_rss(base)} | — |"
        )
    if again:
        print(
            f"| re-harvest, unchanged (304s) | {again['elapsed']:.2f} s = **{again['elapsed'] / first['elapsed']:.1%}**"
            f" of the first; peak RSS {again['rss_mb']:.0f} MB | ≤ 10% |"
        )
    if full:
        print(
            f"| full re-harvest, no conditional GET | {full['elapsed']:.1f} s = {full['elapsed'] / first['elapsed']:.0%}"
            f" of the first; {full['counts'].get('unchanged', 0):,} unchanged, 0 re-indexed | — |"
        )
    print(
        f"| parse only, pyoxigraph, the same pages | {oxi_rate:,.0f} datasets/s"
        f" (end to end = **{first['rate'] / oxi_rate:.0%}** of it) | ≥ 40% |"
    )
    print(
        f"| parse only, rdflib | {rdf_rate:,.0f} datasets/s (end to end = {first['rate'] / rdf_rate:.1f}×) | — |"
    )
    problems = main_run["problems"] + [p for o in others for p in o["problems"]]
    for problem in problems:
        print(f"PROBLEM: {problem}")
    failed = bool(problems)
    if args.portals:  # the JSON portals' half of the same run (their own table)
        import portals

        print()
        sys.stdout.flush()
        failed |= bool(
            portals.main(
                ["--size", str(args.portals), "--repeat", str(args.repeat), "--only-json"]
                + (["--against", args.against] if args.against else [])
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
