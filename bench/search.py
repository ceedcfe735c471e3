"""Search benchmark: the embedded (tantivy) backend against the SQLite FTS5 baseline.

    python bench/search.py                       # 100,000 and 1,000,000 documents (FTS5 at 100,000 only)
    python bench/search.py --sizes 100000 --fts-max-size 100000 --reps 100 --workdir /tmp/fedcat-bench

For each size it generates realistic French/English catalogue documents (`generate_documents`, reusable
by the API benchmark), indexes them in each engine (docs/s, index size), then times `backend.search`
(p50/p95 over --reps repetitions after a warm-up) for a rare word, a common word (~10 % of documents) and
a 3-word query, every facet counted, with and without a facet filter. The tantivy engine is timed three
ways on the same index, taking turns rep by rep so that a busy machine slows them alike: as it is (facets
counted by the native extension, fedcat._native), the same query counting no facet (the query's own
cost; facets = the difference of the medians), and with facets counted by tantivy's aggregations (the
Python path, the fallback and the baseline); both must give the same answers. Figures are medians on
this machine; compare the ratios, not the absolute numbers, across machines.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

try:
    from fedcat.indexer.backend import (
        FACETS,
        SearchBackend,
        SearchDocument,
        SearchQuery,
        SearchResult,
    )
    from fedcat.indexer.embedded import EmbeddedBackend
    from fedcat.indexer.sqlite_fts import SqliteFtsBackend
    from fedcat.mappings.quality import BAND_NAMES
except ImportError:  # run from a checkout without `pip install -e .`
    sys.exit("fedcat is not importable: pip install -e . first")

THEME = "http://publications.europa.eu/resource/authority/data-theme/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
LANGUAGE = "http://publications.europa.eu/resource/authority/language/"


def _words(text: str) -> list[str]:
    return text.split()


# (French title, English title, EU theme, keywords): the subjects open-data portals publish most.
SUBJECTS = [
    ("Vélos en libre-service", "Bike sharing stations", "TRAN", ["vélo", "mobilité", "vls"]),
    ("Qualité de l'air", "Air quality", "ENVI", ["pollution", "air", "environnement"]),
    ("Arrêts de bus et de tramway", "Bus and tram stops", "TRAN", ["transport", "bus", "tramway"]),
    ("Horaires des lignes de bus", "Bus timetables", "TRAN", ["transport", "gtfs", "bus"]),
    ("Stationnement payant", "Paid parking", "TRAN", ["stationnement", "parking", "voirie"]),
    ("Parkings relais", "Park and ride car parks", "TRAN", ["parking", "stationnement", "mobilité"]),
    ("Bornes de recharge pour véhicules électriques", "EV charging points", "ENER", ["irve", "énergie"]),
    ("Comptages routiers", "Road traffic counts", "TRAN", ["trafic", "circulation", "voirie"]),
    ("Budget primitif", "Annual budget", "GOVE", ["budget", "finances", "comptabilité"]),
    ("Compte administratif", "Financial statements", "GOVE", ["finances", "comptabilité"]),
    ("Délibérations du conseil municipal", "City council decisions", "GOVE", ["délibérations", "conseil"]),
    ("Subventions aux associations", "Grants to associations", "GOVE", ["subventions", "associations"]),
    ("Marchés publics attribués", "Public procurement contracts", "GOVE", ["marchés publics", "achats"]),
    ("Résultats des élections", "Election results", "GOVE", ["élections", "vote", "scrutin"]),
    ("Population légale", "Legal population", "SOCI", ["population", "recensement", "démographie"]),
    ("Naissances et décès", "Births and deaths", "SOCI", ["état civil", "démographie"]),
    ("Prénoms des nouveau-nés", "Baby names", "SOCI", ["prénoms", "état civil"]),
    ("Établissements scolaires", "Schools", "EDUC", ["écoles", "éducation", "enseignement"]),
    ("Menus des cantines scolaires", "School canteen menus", "EDUC", ["cantine", "restauration"]),
    ("Équipements sportifs", "Sports facilities", "EDUC", ["sport", "équipements"]),
    ("Bibliothèques et médiathèques", "Public libraries", "EDUC", ["culture", "bibliothèques"]),
    ("Musées et monuments historiques", "Museums and heritage sites", "EDUC", ["culture", "patrimoine"]),
    ("Agenda des événements culturels", "Cultural events calendar", "EDUC", ["culture", "événements"]),
    ("Arbres d'alignement", "Street trees", "ENVI", ["arbres", "nature", "patrimoine arboré"]),
    ("Espaces verts et jardins", "Parks and gardens", "ENVI", ["espaces verts", "nature"]),
    ("Collecte des déchets", "Waste collection", "ENVI", ["déchets", "collecte", "propreté"]),
    ("Points d'apport volontaire", "Recycling points", "ENVI", ["déchets", "recyclage", "tri"]),
    ("Consommation d'électricité", "Electricity consumption", "ENER", ["énergie", "électricité"]),
    ("Production photovoltaïque", "Solar power generation", "ENER", ["énergie", "solaire"]),
    ("Consommation de gaz", "Gas consumption", "ENER", ["énergie", "gaz"]),
    ("Qualité de l'eau potable", "Drinking water quality", "HEAL", ["eau", "santé"]),
    ("Hôpitaux et centres de santé", "Hospitals and health centres", "HEAL", ["santé", "hôpitaux"]),
    ("Défibrillateurs", "Defibrillators", "HEAL", ["santé", "dae", "secours"]),
    ("Pharmacies de garde", "On-duty pharmacies", "HEAL", ["santé", "pharmacies"]),
    ("Cadastre", "Land register", "REGI", ["cadastre", "parcelles", "foncier"]),
    ("Plan local d'urbanisme", "Local urban plan", "REGI", ["urbanisme", "plu", "zonage"]),
    ("Permis de construire", "Building permits", "REGI", ["urbanisme", "construction"]),
    ("Adresses", "Addresses", "REGI", ["adresses", "base adresse", "voies"]),
    ("Limites administratives", "Administrative boundaries", "REGI", ["limites", "communes"]),
    ("Bâtiments", "Buildings", "REGI", ["bâtiments", "bâti", "3d"]),
    ("Orthophotographie", "Aerial imagery", "REGI", ["orthophoto", "imagerie", "aérien"]),
    ("Risques d'inondation", "Flood risk", "ENVI", ["inondations", "risques", "prévention"]),
    ("Relevés météorologiques", "Weather observations", "ENVI", ["météo", "climat", "températures"]),
    ("Entreprises immatriculées", "Registered companies", "ECON", ["entreprises", "sirene"]),
    ("Offres d'emploi", "Job offers", "ECON", ["emploi", "travail"]),
    ("Fréquentation touristique", "Tourism statistics", "ECON", ["tourisme", "hébergement"]),
    ("Marchés et halles", "Markets", "ECON", ["commerce", "marchés"]),
    ("Prix des carburants", "Fuel prices", "ECON", ["carburants", "prix", "énergie"]),
    ("Accidents de la route", "Road accidents", "TRAN", ["sécurité routière", "accidents"]),
    ("Pistes cyclables", "Cycle paths", "TRAN", ["vélo", "aménagements cyclables", "mobilité"]),
    ("Travaux sur la voirie", "Roadworks", "TRAN", ["travaux", "voirie", "circulation"]),
    ("Logements sociaux", "Social housing", "SOCI", ["logement", "habitat"]),
    ("Crèches et modes de garde", "Childcare", "SOCI", ["petite enfance", "crèches"]),
    ("Délinquance enregistrée", "Recorded crime", "JUST", ["sécurité", "délinquance"]),
    ("Wi-Fi public", "Public Wi-Fi hotspots", "TECH", ["numérique", "wifi"]),
    ("Couverture mobile", "Mobile network coverage", "TECH", ["numérique", "réseaux", "4g"]),
    ("Toilettes publiques", "Public toilets", "SOCI", ["équipements", "accessibilité"]),
    ("Fontaines à boire", "Drinking fountains", "HEAL", ["eau", "équipements"]),
    ("Agriculture biologique", "Organic farming", "AGRI", ["agriculture", "bio"]),
    ("Surfaces agricoles", "Agricultural land", "AGRI", ["agriculture", "foncier"]),
    ("Pêche et aquaculture", "Fisheries and aquaculture", "AGRI", ["pêche", "mer"]),
]
CITIES = _words(
    "Paris Marseille Lyon Toulouse Nice Nantes Montpellier Strasbourg Bordeaux Lille Rennes Reims Toulon "
    "Grenoble Dijon Angers Nîmes Villeurbanne Clermont-Ferrand Aix-en-Provence Brest Tours Amiens Limoges "
    "Annecy Perpignan Besançon Metz Orléans Rouen Mulhouse Caen Nancy Argenteuil Montreuil Roubaix Tourcoing "
    "Avignon Poitiers Versailles Pau Calais Cannes Antibes Béziers Colmar Bourges Quimper Valence Troyes "
    "Chambéry Niort Lorient Vannes Cherbourg Ajaccio Bastia Saint-Étienne Saint-Denis Saint-Nazaire "
    "London Manchester Edinburgh Bristol Leeds Dublin Brussels Luxembourg Geneva Montréal"
)
SYLLABLES = _words(
    "bel mont vil ro ch ar sai gno lan ver dur cou bra tal mé rieu pon tho gi sar bou ley fon ca ris"
)
ENDINGS = _words("ac ay ville court heim ans ières ange ol ey y on et as in ès")
FILLER_FR = _words(
    "les données sont publiées par la collectivité et mises à jour régulièrement ce jeu de données "
    "recense l'ensemble des informations disponibles sur le territoire la liste des points est fournie "
    "avec leurs coordonnées géographiques au format ouvert réutilisation libre selon la licence "
    "indiquée chaque enregistrement comporte un identifiant unique une date de mise à jour et un "
    "statut les valeurs manquantes sont signalées source service producteur fichier mis à disposition "
    "dans le cadre de la démarche d'ouverture des données publiques périmètre communal intercommunal "
    "départemental régional national annuel mensuel quotidien historique depuis"
)
FILLER_EN = _words(
    "this dataset lists all records published by the authority and updated regularly each record has "
    "a unique identifier location coordinates a status and the date of the last update data are "
    "provided under an open licence see the documentation for the field definitions coverage annual "
    "monthly daily historical since council area region national"
)
LICENCES = [
    "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
    "http://opendatacommons.org/licenses/odbl/1-0/",
    "http://creativecommons.org/licenses/by/4.0/",
    "http://creativecommons.org/publicdomain/zero/1.0/",
    "http://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
    "http://creativecommons.org/licenses/by-sa/4.0/",
]
FORMATS = ["CSV", "JSON", "GEOJSON", "SHP", "XLSX", "PDF", "XML", "ZIP", "KML", "WMS_SRVC", "PARQUET", "GPKG"]
PUBLISHER_KINDS = ["Ville de {}", "Métropole de {}", "Communauté d'agglomération de {}", "Département {}"]
NATIONAL = [
    "INSEE", "IGN", "Météo-France", "SNCF", "Santé publique France", "Ministère de l'Intérieur",
    "Ministère de la Transition écologique", "Transport for London", "Office for National Statistics",
]  # fmt: skip


def _zipf(n: int, s: float = 1.0) -> list[float]:
    """Cumulative Zipf weights: a few values dominate, a long tail is rare (like real catalogues)."""
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


def _places(count: int = 4000) -> list[str]:
    rng = random.Random(20240601)  # the same gazetteer for every seed, so query words stay meaningful
    names = dict.fromkeys(CITIES)
    while len(names) < count:
        stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3))))
        names.setdefault((stem + rng.choice(ENDINGS)).capitalize())
    return list(names)


PLACES = _places()


def generate_documents(n: int, seed: int = 0) -> Iterator[SearchDocument]:
    """`n` deterministic catalogue documents (same `n` and `seed`, same documents).

    Titles combine a subject with a place and a year, in French (~80 %) or English; descriptions are
    20-60 words; publishers, keywords and places follow Zipf laws, so facets have a few big values and a
    long tail. ~5 % of documents have no modification date.
    """
    rng = random.Random(seed)
    place_w = _zipf(len(PLACES), 1.05)
    subject_w = _zipf(len(SUBJECTS), 0.6)
    publishers = [kind.format(p) for p in PLACES[:1500] for kind in PUBLISHER_KINDS] + NATIONAL
    publisher_w = _zipf(len(publishers), 0.9)
    extra_keywords = sorted({k for s in SUBJECTS for k in s[3]} | {p.lower() for p in PLACES[:800]})
    keyword_w = _zipf(len(extra_keywords), 1.0)
    format_w = _zipf(len(FORMATS), 1.2)
    sources = [f"portal-{i:02d}" for i in range(60)]
    source_w = _zipf(len(sources), 1.1)
    licence_w = _zipf(len(LICENCES), 1.3)
    choices, rand, randint = rng.choices, rng.random, rng.randint
    # every real document has a quality band and says whether it is reused: drawn apart, so that the other
    # fields (and the chosen query words) stay those of earlier runs
    derived = random.Random(seed + 1)
    for i in range(n):
        fr_title, en_title, theme, keywords = choices(SUBJECTS, cum_weights=subject_w)[0]
        place = choices(PLACES, cum_weights=place_w)[0]
        year = randint(2012, 2025)
        english = rand() < 0.2
        subject = en_title if english else fr_title
        style = rand()
        if style < 0.4:
            title = f"{subject} - {place}"
        elif style < 0.7:
            title = f"{subject} {year}" if english else f"{subject} {year} - {place}"
        elif style < 0.9:
            title = f"{subject} ({place}, {year})"
        else:
            title = subject
        filler = FILLER_EN if english else FILLER_FR
        words = choices(filler, k=randint(20, 60))
        words[randint(0, len(words) - 1)] = place
        words.insert(0, (en_title if english else fr_title).lower())
        if rand() < 0.3:
            words.append(choices(PLACES, cum_weights=place_w)[0])
        publisher = choices(publishers, cum_weights=publisher_w)[0]
        kw = list(
            dict.fromkeys(k.lower() for k in keywords + choices(extra_keywords, cum_weights=keyword_w, k=2))
        )
        month, day = randint(1, 12), randint(1, 28)
        if rand() < 0.05:
            modified = ""
        elif rand() < 0.3:
            modified = f"{year}-{month:02d}-{day:02d}T{randint(0, 23):02d}:{randint(0, 59):02d}:00Z"
        else:
            modified = f"{year}-{month:02d}-{day:02d}"
        lang = "ENG" if english else "FRA"
        source = choices(sources, cum_weights=source_w)[0]
        yield SearchDocument(
            id=f"https://data.example.org/{source}/datasets/{i:07d}",
            title=title,
            description=(text := " ".join(words))[0].upper() + text[1:] + ".",
            keywords_text=" ".join(kw),
            publisher_text=publisher,
            modified=modified,
            publisher=[publisher],
            theme=[THEME + theme] + ([THEME + "REGI"] if rand() < 0.15 and theme != "REGI" else []),
            format=[
                FILE_TYPE + f for f in sorted(set(choices(FORMATS, cum_weights=format_w, k=randint(1, 4))))
            ],
            licence=[choices(LICENCES, cum_weights=licence_w)[0]],
            keyword=kw,
            source=[source],
            jurisdiction=[f"jurisdiction:{place.lower()}"],
            language=[LANGUAGE + lang] + ([LANGUAGE + "ENG"] if not english and rand() < 0.05 else []),
            quality=[derived.choices(BAND_NAMES, weights=(1, 4, 4, 2))[0]],
            has_reuses=["true" if derived.random() < 0.05 else "false"],
        )


# ---------------------------------------------------------------------------------------------------------


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    for file in path.parent.glob(path.name + "*"):  # an SQLite file with its -wal and -shm
        file.unlink()


def _dir_size(path: Path) -> int:
    if path.is_file():
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))  # with -wal, -shm
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _index(factory: Callable[[], SearchBackend], docs: list[SearchDocument], batch: int) -> dict:
    backend = factory()
    started = time.perf_counter()
    for at in range(0, len(docs), batch):
        backend.upsert(docs[at : at + batch])
        backend.commit()
    elapsed = time.perf_counter() - started
    backend.close()  # waits for merges: searches below run on the settled index
    return {"seconds": elapsed, "docs_per_s": len(docs) / elapsed}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _time_queries(
    variants: dict[str, Callable[[SearchQuery], SearchResult]],
    queries: dict[str, SearchQuery],
    reps: int,
    warmup: int,
    cap_s: float,
) -> dict[str, dict[str, dict]]:
    """Wall-clock p50/p95 per query and variant, and the median CPU time of this process (every thread) per
    query: on a busy machine the wall clock measures the neighbours too, the CPU time mostly the query. The
    variants take turns rep by rep, so that a change of load between them affects them alike."""
    out: dict[str, dict[str, dict]] = {variant: {} for variant in variants}
    for label, query in queries.items():
        for _ in range(warmup):
            for search in variants.values():
                search(query)
        samples: dict[str, list[float]] = {variant: [] for variant in variants}
        cpu: dict[str, list[float]] = {variant: [] for variant in variants}
        totals: dict[str, int] = {}
        started = time.perf_counter()
        done = 0
        while done < reps and (time.perf_counter() - started < cap_s or done < 5):
            for variant, search in variants.items():
                t0, c0 = time.perf_counter(), time.process_time()
                totals[variant] = search(query).total
                samples[variant].append((time.perf_counter() - t0) * 1000)
                cpu[variant].append((time.process_time() - c0) * 1000)
            done += 1
        for variant in variants:
            out[variant][label] = {
                "p50": statistics.median(samples[variant]),
                "p95": _percentile(samples[variant], 0.95),
                "cpu": statistics.median(cpu[variant]),
                "reps": done,
                "hits": totals[variant],
            }
    return out


def _choose_queries(backend: SearchBackend, n: int) -> dict[str, SearchQuery]:
    """Pick the words from the data: a rare place name, the word closest to 10 % of documents."""

    def hits(q: str) -> int:
        return backend.search(SearchQuery(q=q, facets=(), page_size=1)).total

    common_candidates = ["mobilité", "transport", "culture", "énergie", "santé", "finances", "voirie", "bus"]
    common = min(common_candidates, key=lambda w: abs(hits(w) - n / 10))
    rare = next((p for p in PLACES[2500:] if "-" not in p and 0 < hits(p) <= max(3, n // 20_000)), PLACES[-1])
    three = "arrêts bus tramway"
    words = {"rare": rare, "common": common, "3 words": three}
    facet_filter = {"format": [FILE_TYPE + "CSV"]}
    queries = {}
    for label, q in words.items():
        queries[f"{label} '{q}'"] = SearchQuery(q=q, facets=FACETS)
        queries[f"{label} '{q}' +filter"] = SearchQuery(q=q, facets=FACETS, filters=facet_filter)
    # The landing page: every document, every facet (the worst case for counting).
    queries["no words (all documents)"] = SearchQuery(facets=FACETS)
    return queries


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"
    except OSError:
        return "load average unknown"


def run(
    sizes: list[int],
    workdir: Path,
    reps: int,
    warmup: int,
    fts_max: int,
    cap_s: float,
    seed: int,
    reuse: bool,
) -> None:
    print(
        f"fedcat search benchmark: sizes {sizes}, {reps} reps after {warmup} warm-up, seed {seed}; {_load()}"
    )
    print(f"FTS5 runs at sizes <= {fts_max:,} (--fts-max-size); a query series stops after {cap_s:.0f} s")
    for n in sizes:
        docs: list[SearchDocument] = []
        paths = {"tantivy": workdir / f"tantivy-{n}", "fts5": workdir / f"fts5-{n}.db"}
        engines: dict[str, Callable[[], SearchBackend]] = {
            # the engine itself: answers are not kept (repeated queries would time the cache)
            "tantivy": lambda p=paths["tantivy"]: EmbeddedBackend(p, answer_cache=0)
        }
        if n <= fts_max:
            engines["fts5"] = lambda p=paths["fts5"]: SqliteFtsBackend(p)
        print(f"\n== {n:,} documents")
        if n > fts_max:
            print(f"FTS5 skipped at {n:,} documents (--fts-max-size {fts_max:,}): minutes per query series")
        results: dict[str, dict[str, dict]] = {}
        queries = None
        for engine, factory in engines.items():
            if reuse and paths[engine].exists():
                print(f"{engine:8} reusing the index in {paths[engine]}")
            else:
                if not docs:
                    t0 = time.perf_counter()
                    docs = list(generate_documents(n, seed))
                    print(f"generated {n:,} documents in {time.perf_counter() - t0:.1f} s")
                _remove(paths[engine])
                build = _index(factory, docs, batch=50_000)
                print(
                    f"{engine:8} indexed {n:,} docs in {build['seconds']:.1f} s = {build['docs_per_s']:,.0f} "
                    f"docs/s (commit every 50,000), index {_dir_size(paths[engine]) / 1e6:,.0f} MB; {_load()}"
                )
            gc.collect()
            backend = factory()
            if queries is None:
                queries = _choose_queries(backend, n)
            variants = {engine: backend.search}
            python = None
            if engine == "tantivy":
                if backend._counter is None:
                    sys.exit("fedcat._native is not built (pip install -e . with cargo): nothing to compare")
                python = EmbeddedBackend(paths[engine], answer_cache=0, native_facets=False)
                variants["query only"] = lambda q, search=backend.search: search(
                    msgspec.structs.replace(q, facets=())
                )
                variants["python"] = python.search
            results.update(_time_queries(variants, queries, reps, warmup, cap_s))
            if python is not None:
                for label, query in queries.items():
                    assert backend.search(query) == python.search(query), f"answers differ: {label}"
                python.close()
            backend.close()
        assert queries is not None
        print(f"queries timed; {_load()}")
        _print_table(queries, results, reps)
        _time_kept_landing(paths["tantivy"], queries["no words (all documents)"], reps)
        for label in queries:
            if "fts5" in results:
                assert results["fts5"][label]["hits"] == results["tantivy"][label]["hits"], label
        del docs
        gc.collect()


def _time_kept_landing(path: Path, landing: SearchQuery, reps: int) -> None:
    """The landing query as fedcat serves it: counted once, then answered from the kept answers until the
    index changes (EmbeddedBackend's default); its other pages reuse the kept facet counts and only find
    their hits (timed against the same pages counted again, by an index that keeps nothing)."""
    backend, counting = EmbeddedBackend(path), EmbeddedBackend(path, answer_cache=0)
    t0 = time.perf_counter()
    backend.search(landing)
    first = (time.perf_counter() - t0) * 1000
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        backend.search(landing)
        samples.append((time.perf_counter() - t0) * 1000)
    print(
        f"landing page with kept answers: first {first:.2f} ms, then p50 {statistics.median(samples):.3f} ms, "
        f"p95 {_percentile(samples, 0.95):.3f} ms ({first / statistics.median(samples):,.0f}x)"
    )
    pages, recounted = [], []
    for page in range(2, min(reps, 400) + 2):  # pages not seen yet: each answer is made, not found
        other = msgspec.structs.replace(landing, page=page)
        t0 = time.perf_counter()
        kept = backend.search(other)
        pages.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        assert counting.search(other) == kept, f"page {page} differs from its answer counted again"
        recounted.append((time.perf_counter() - t0) * 1000)
    backend.close()
    counting.close()
    print(
        f"its pages 2-{len(pages) + 1} (kept facet counts): p50 {statistics.median(pages):.2f} ms, "
        f"p95 {_percentile(pages, 0.95):.2f} ms; counted again: p50 {statistics.median(recounted):.2f} ms "
        f"({statistics.median(recounted) / statistics.median(pages):.1f}x)"
    )


def _print_table(queries: dict[str, SearchQuery], results: dict[str, dict], reps: int) -> None:
    """Per query, for each way of counting facets (native: fedcat._native; python: tantivy's aggregations):
    wall p50 and p95, split into the query's own cost (the same search counting no facet) and the facets
    (the difference of the medians), in wall time and in CPU time of every thread, with facets/query in CPU;
    then python/native; FTS5 when it ran."""
    print(
        "\nquery = the same search counting no facet (p50, and q.cpu its CPU time); facets = p50 - query, "
        "f.cpu the same in CPU time (every thread), f/q = f.cpu / q.cpu; native = fedcat._native's one pass "
        "over the hits, python = tantivy's aggregations (the fallback); py/native: total p50 and CPU"
    )
    header = (
        f"{'query (every facet counted), ms':38} {'hits':>9} {'query':>6} {'q.cpu':>6} | "
        f"{'native p50':>10} {'p95':>6} {'facets':>6} {'f.cpu':>6} {'f/q':>5} | "
        f"{'python p50':>10} {'p95':>6} {'facets':>6} {'f.cpu':>6} {'f/q':>5} | {'py/native p50':>13} {'cpu':>5}"
    )
    if "fts5" in results:
        header += f" | {'fts5 p50':>8} {'fts5/now':>8}"
    print(header)
    now, alone, python = results["tantivy"], results["query only"], results["python"]
    for label in queries:
        n, q, p = now[label], alone[label], python[label]
        note = f" ({n['reps']} reps)" if n["reps"] < reps else ""

        def split(r: dict, q: dict = q) -> str:
            facets_cpu = r["cpu"] - q["cpu"]
            return (
                f"{r['p50']:>10.2f} {r['p95']:>6.2f} {r['p50'] - q['p50']:>6.2f} {facets_cpu:>6.2f} "
                f"{facets_cpu / q['cpu']:>4.1f}x"
            )

        line = (
            f"{label:38} {n['hits']:>9,} {q['p50']:>6.2f} {q['cpu']:>6.2f} | {split(n)} | {split(p)} | "
            f"{p['p50'] / n['p50']:>12.2f}x {p['cpu'] / n['cpu']:>4.2f}x"
        )
        if "fts5" in results:
            fts = results["fts5"][label]
            line += f" | {fts['p50']:>8.2f} {fts['p50'] / n['p50']:>7.1f}x"
        print(line + note)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated document counts")
    parser.add_argument("--workdir", type=Path, help="where to build the indexes (default: a temp dir)")
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--fts-max-size", type=int, default=100_000, help="skip FTS5 above this size")
    parser.add_argument(
        "--series-cap", type=float, default=30.0, help="seconds per query series (min 5 reps)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the indexes in --workdir")
    parser.add_argument(
        "--reuse", action="store_true", help="search indexes already in --workdir (implies --keep)"
    )
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fedcat-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(sizes, workdir, args.reps, args.warmup, args.fts_max_size, args.series_cap, args.seed, args.reuse)
    finally:
        if not (args.keep or args.reuse):
            for n in sizes:
                _remove(workdir / f"tantivy-{n}")
                _remove(workdir / f"fts5-{n}.db")
            if args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
