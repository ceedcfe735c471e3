"""Example catalogues for the demo and the tests, written for fedcat in the shapes real portals publish.

The content is invented (titles in the style of a French city's and a metropolis's open-data portals); the
shapes are real: DCAT-AP Turtle paged with Hydra like data.gouv.fr's catalogue, and RDF/XML like CKAN's.
"""

from __future__ import annotations

import json

import msgspec
from pyoxigraph import Literal, NamedNode, Triple

from ..mappings.model import Agent, ContactPoint, Dataset, Distribution, Location, PeriodOfTime, Text
from ..mappings.namespaces import HYDRA, RDF_TYPE, XSD
from ..mappings.rdf import dataset_triples, serialize

EU = "http://publications.europa.eu/resource/authority/"
THEME = EU + "data-theme/"
FILE_TYPE = EU + "file-type/"
LICENCE_LO = "https://www.etalab.gouv.fr/licence-ouverte-open-licence"
LICENCE_ODBL = "http://opendatacommons.org/licenses/odbl/1-0/"
LILLE_BBOX = "POLYGON((2.97 50.60, 3.13 50.60, 3.13 50.66, 2.97 50.66, 2.97 50.60))"

# (slug, French title, English title, description, keywords, theme codes, formats, modified)
CITY = [
    (
        "velos-libre-service",
        "Stations de vélos en libre-service",
        "Bike-sharing stations",
        "Emplacement et capacité des stations de vélos en libre-service, mis à jour chaque jour.",
        ["vélo", "mobilité", "transport"],
        ["TRAN"],
        ["CSV", "GEOJSON"],
        "2026-10-02",
    ),
    (
        "qualite-air",
        "Qualité de l'air : indices quotidiens",
        "Daily air quality index",
        "Indices ATMO de qualité de l'air par commune et polluant (ozone, dioxyde d'azote, particules).",
        ["air", "pollution", "santé"],
        ["ENVI", "HEAL"],
        ["CSV", "JSON"],
        "2026-11-20",
    ),
    (
        "budget-primitif",
        "Budget primitif de la ville",
        "City budget",
        "Budget primitif voté par le conseil municipal, par chapitre et par fonction.",
        ["budget", "finances publiques"],
        ["GOVE", "ECON"],
        ["CSV", "XLSX"],
        "2026-03-15",
    ),
    (
        "arbres-alignement",
        "Arbres d'alignement",
        "Street trees",
        "Inventaire des arbres d'alignement : essence, hauteur, circonférence et date de plantation.",
        ["arbre", "nature en ville", "patrimoine arboré"],
        ["ENVI"],
        ["CSV", "SHP", "GEOJSON"],
        "2025-12-01",
    ),
    (
        "equipements-sportifs",
        "Équipements sportifs",
        "Sports facilities",
        "Gymnases, piscines, stades et salles de sport municipaux avec leurs horaires.",
        ["sport", "loisirs", "équipement"],
        ["EDUC"],
        ["CSV", "JSON"],
        "2026-06-30",
    ),
    (
        "bibliotheques",
        "Bibliothèques et médiathèques",
        "Libraries",
        "Liste des bibliothèques municipales, horaires d'ouverture et fréquentation annuelle.",
        ["culture", "lecture", "bibliothèque"],
        ["EDUC"],
        ["CSV"],
        "2026-01-10",
    ),
    (
        "parkings-temps-reel",
        "Disponibilité des parkings en temps réel",
        "Real-time car park availability",
        "Nombre de places disponibles dans les parkings publics, actualisé toutes les minutes.",
        ["stationnement", "parking", "mobilité"],
        ["TRAN"],
        ["JSON", "CSV"],
        "2026-11-23",
    ),
    (
        "deliberations",
        "Délibérations du conseil municipal",
        "City council decisions",
        "Délibérations adoptées par le conseil municipal depuis 2014, avec leur objet et leur vote.",
        ["délibération", "conseil municipal", "démocratie"],
        ["GOVE"],
        ["CSV", "PDF"],
        "2026-10-28",
    ),
    (
        "subventions-associations",
        "Subventions aux associations",
        "Grants to associations",
        "Subventions versées aux associations au format SCDL : bénéficiaire, montant, objet.",
        ["subvention", "association", "données essentielles"],
        ["GOVE", "SOCI"],
        ["CSV"],
        "2026-04-02",
    ),
    (
        "marches-publics",
        "Données essentielles des marchés publics",
        "Public procurement data",
        "Marchés publics conclus par la ville : acheteur, titulaire, montant, durée.",
        ["marché public", "commande publique"],
        ["GOVE", "ECON"],
        ["JSON", "XML"],
        "2026-09-12",
    ),
    (
        "ecoles-effectifs",
        "Effectifs scolaires des écoles",
        "School enrolment",
        "Nombre d'élèves par école maternelle et élémentaire et par niveau.",
        ["école", "éducation", "élèves"],
        ["EDUC"],
        ["CSV"],
        "2025-09-15",
    ),
    (
        "collecte-dechets",
        "Calendrier de collecte des déchets",
        "Waste collection calendar",
        "Jours de collecte des ordures ménagères, du tri sélectif et des encombrants par secteur.",
        ["déchets", "propreté", "recyclage"],
        ["ENVI"],
        ["CSV", "ICS"],
        "2026-02-20",
    ),
    (
        "population-quartiers",
        "Population par quartier",
        "Population by district",
        "Population municipale par quartier issue du recensement, par tranche d'âge.",
        ["population", "démographie", "quartier"],
        ["SOCI", "REGI"],
        ["CSV", "XLS"],
        "2024-07-01",
    ),
    (
        "monuments-historiques",
        "Monuments historiques protégés",
        "Listed historic monuments",
        "Monuments classés ou inscrits au titre des monuments historiques situés dans la ville.",
        ["patrimoine", "monument", "culture"],
        ["EDUC"],
        ["CSV", "GEOJSON"],
        "2023-11-30",
    ),
]
METROPOLIS = [
    (
        "arrets-transport",
        "Arrêts de bus et de tramway",
        "Bus and tram stops",
        "Arrêts du réseau de transport en commun métropolitain au format GTFS et GeoJSON.",
        ["bus", "tramway", "transport en commun"],
        ["TRAN"],
        ["ZIP", "GEOJSON"],
        "2026-11-01",
    ),
    (
        "pistes-cyclables",
        "Aménagements cyclables",
        "Cycle paths",
        "Pistes et bandes cyclables, voies vertes et double-sens cyclables de la métropole.",
        ["vélo", "piste cyclable", "mobilité"],
        ["TRAN"],
        ["GEOJSON", "SHP"],
        "2026-08-19",
    ),
    (
        "consommation-energie",
        "Consommation d'énergie des bâtiments publics",
        "Energy use of public buildings",
        "Consommations annuelles d'électricité, de gaz et de chaleur des bâtiments métropolitains.",
        ["énergie", "bâtiment", "électricité"],
        ["ENER"],
        ["CSV"],
        "2026-05-05",
    ),
    (
        "plu",
        "Plan local d'urbanisme intercommunal",
        "Local urban plan",
        "Zonage, prescriptions et servitudes du plan local d'urbanisme intercommunal.",
        ["urbanisme", "PLU", "zonage"],
        ["REGI"],
        ["SHP", "PDF"],
        "2025-06-24",
    ),
    (
        "qualite-eau",
        "Qualité de l'eau potable",
        "Drinking water quality",
        "Résultats des analyses de l'eau distribuée par unité de distribution.",
        ["eau", "santé", "environnement"],
        ["HEAL", "ENVI"],
        ["CSV"],
        "2026-10-30",
    ),
    (
        "entreprises-zones",
        "Entreprises des zones d'activités",
        "Businesses in business parks",
        "Établissements implantés dans les zones d'activités économiques de la métropole.",
        ["économie", "entreprise", "emploi"],
        ["ECON"],
        ["CSV", "XLSX"],
        "2026-03-03",
    ),
    (
        "velos-libre-service",
        "Stations de vélos en libre-service (V'Lille)",
        "Bike-sharing stations (V'Lille)",
        "Disponibilité en temps réel des vélos et des places dans les stations du service métropolitain.",
        ["vélo", "V'Lille", "temps réel"],
        ["TRAN"],
        ["JSON", "CSV"],
        "2026-11-23",
    ),
]


def _dataset(base: str, row: tuple, publisher: Agent, licence: str, index: int, uri_base: str) -> Dataset:
    slug, fr, en, description, keywords, themes, formats, modified = row
    uri = f"{uri_base}/datasets/{slug}"
    return Dataset(
        uri=uri,
        title=[Text(fr, "fr"), Text(en, "en")],
        description=[Text(description, "fr")],
        identifier=[slug],
        keywords=[Text(k, "fr") for k in keywords],
        themes=[THEME + code for code in themes],
        publisher=publisher,
        contact_points=[
            ContactPoint(
                name="Service open data",
                email=f"opendata@{uri_base.split('//')[1].split('/')[0].split(':')[0]}",
            )
        ],
        distributions=[
            Distribution(
                uri=f"{uri}/distributions/{fmt.lower()}",
                title=[Text(f"{fr} ({fmt})", "fr")],
                access_url=[f"{base}/explore/{slug}"],
                download_url=[f"{base}/files/{slug}.{fmt.lower()}"],
                format=FILE_TYPE + fmt,
                licence=licence,
            )
            for fmt in formats
        ],
        issued=f"20{14 + index % 10}-0{1 + index % 9}-15",
        modified=modified,
        language=[EU + "language/FRA"],
        accrual_periodicity=EU + "frequency/" + ("DAILY" if index % 3 == 0 else "ANNUAL"),
        temporal=[PeriodOfTime(start=f"20{10 + index % 10}-01-01")],
        spatial=[Location(label=[Text("Lille", "fr")], bbox=LILLE_BBOX)],
        landing_page=[f"{base}/explore/{slug}"],
    )


def city_datasets(base: str, uri_base: str | None = None) -> list[Dataset]:
    """The city's datasets, their files under `base`; their IRIs under `uri_base` (default: `base`), which
    keeps fedcat's ids (a digest of the IRI) the same whatever port serves the files."""
    uri_base = uri_base or base
    publisher = Agent(
        uri=f"{uri_base}/organisation/ville",
        name=[Text("Ville de Lille (exemple)", "fr")],
        type="http://purl.org/adms/publishertype/LocalAuthority",
        identifier="21590350100017",
    )
    return [_dataset(base, row, publisher, LICENCE_LO, i, uri_base) for i, row in enumerate(CITY)]


def metropolis_datasets(base: str, uri_base: str | None = None) -> list[Dataset]:
    uri_base = uri_base or base
    publisher = Agent(
        uri=f"{uri_base}/organisation/metropole",
        name=[Text("Métropole Européenne de Lille (exemple)", "fr")],
        identifier="200093201",
    )
    return [
        _dataset(base, row, publisher, LICENCE_ODBL if i % 2 else LICENCE_LO, i, uri_base)
        for i, row in enumerate(METROPOLIS)
    ]


def vary_completeness(datasets: list[Dataset]) -> list[Dataset]:
    """The demo's datasets described as unevenly as real ones are, so that quality scores differ: some with
    media types, sizes and access rights, others without contact, themes, keywords, period or licence."""
    varied = []
    for i, d in enumerate(datasets):
        changes: dict = {}
        distributions = d.distributions
        if i % 3 == 0:  # the best described: IANA media types, sizes, public access
            distributions = [
                msgspec.structs.replace(
                    dist, media_type=MEDIA_TYPES.get(dist.format or ""), byte_size=len(file_body(dist))
                )
                for dist in distributions
            ]
            changes["access_rights"] = EU + "access-right/PUBLIC"
        if i % 4 == 1:
            changes.update(contact_points=[], temporal=[])
        if i % 5 == 2:
            changes.update(themes=[], keywords=[])
        if i % 7 == 3:  # hardly described: no licence, format, contact, keywords nor themes
            distributions = [msgspec.structs.replace(x, licence=None, format=None) for x in distributions]
            changes.update(contact_points=[], keywords=[], themes=[])
        varied.append(msgspec.structs.replace(d, distributions=distributions, **changes))
    return varied


MEDIA_TYPES = {
    FILE_TYPE + "CSV": "http://www.iana.org/assignments/media-types/text/csv",
    FILE_TYPE + "JSON": "http://www.iana.org/assignments/media-types/application/json",
    FILE_TYPE + "GEOJSON": "http://www.iana.org/assignments/media-types/application/geo+json",
    FILE_TYPE + "XML": "http://www.iana.org/assignments/media-types/application/xml",
    FILE_TYPE + "ZIP": "http://www.iana.org/assignments/media-types/application/zip",
    FILE_TYPE + "PDF": "http://www.iana.org/assignments/media-types/application/pdf",
}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "geojson": "application/geo+json",
    "xml": "application/xml",
    "ics": "text/calendar",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "shp": "application/octet-stream",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def file_body(dist: Distribution | str) -> bytes:
    """The small file the demo portal serves for a distribution (or a download URL): a few rows in its
    format, so that a link followed from the API opens something."""
    url = dist if isinstance(dist, str) else (dist.download_url or [""])[0]
    name = url.rsplit("/", 1)[-1]
    slug, _, ext = name.rpartition(".")
    if ext == "csv":
        return f"id;nom;commune\n1;{slug} 1;Lille\n2;{slug} 2;Lille\n".encode()
    if ext == "json":
        return json.dumps([{"id": 1, "nom": f"{slug} 1"}, {"id": 2, "nom": f"{slug} 2"}]).encode()
    if ext == "geojson":
        feature = {
            "type": "Feature",
            "properties": {"nom": slug},
            "geometry": {"type": "Point", "coordinates": [3.06, 50.63]},
        }
        return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    if ext == "xml":
        return f"<?xml version='1.0' encoding='utf-8'?><donnees jeu='{slug}'/>".encode()
    return f"fichier d'exemple {name}\n".encode()


def hydra_pages(datasets: list[Dataset], page_url: str, page_size: int, fmt: str = "ttl") -> dict[int, bytes]:
    """A catalogue split into Hydra-paged documents: page number -> serialised page (page_url % number)."""
    pages = {}
    count = (len(datasets) + page_size - 1) // page_size
    for number in range(1, count + 1):
        triples = [
            t for d in datasets[(number - 1) * page_size : number * page_size] for t in dataset_triples(d)
        ]
        view = NamedNode(page_url % number)
        triples.append(Triple(view, NamedNode(RDF_TYPE), NamedNode(HYDRA + "PartialCollectionView")))
        triples.append(
            Triple(
                view,
                NamedNode(HYDRA + "totalItems"),
                Literal(str(len(datasets)), datatype=NamedNode(XSD + "integer")),
            )
        )
        if number < count:
            triples.append(Triple(view, NamedNode(HYDRA + "next"), NamedNode(page_url % (number + 1))))
        pages[number] = serialize(triples, fmt)
    return pages
