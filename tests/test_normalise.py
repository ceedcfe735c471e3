"""Normalisers on real values: hand-picked expectations, and the share of every licence, format, theme,
language and frequency value found in ../shared/corpus that maps to a controlled URI.

The corpus values are read from the corpus in the test (CKAN / udata / data.json / Opendatasoft JSON, the
2015 Opendatasoft catalogue CSV, and the DCAT RDF documents), never copied into the repository.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

import pyoxigraph as ox
import pytest
from fedcat.mappings import build_vocabularies, normalise, vocabularies
from fedcat.mappings.dates import normalise_date, sort_key, xsd_type
from fedcat.mappings.normalise import (
    access_right_uri,
    format_uri,
    frequency_uri,
    language_uri,
    licence_uri,
    media_type_uri,
    theme_uris,
)

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"

EU = "http://publications.europa.eu/resource/authority/"
LIC = EU + "licence/"
FT = EU + "file-type/"
THEME = EU + "data-theme/"
LANG = EU + "language/"
FREQ = EU + "frequency/"
IANA = "http://www.iana.org/assignments/media-types/"
LO_1 = "https://www.etalab.gouv.fr/wp-content/uploads/2014/05/Licence_Ouverte.pdf"


# --- Hand-picked real values (each seen in the corpus) ----------------------------------------------------

LICENCES = [
    ("Licence Ouverte v2.0", LIC + "ETALAB_2_0"),
    ("Licence Ouverte Version 2.0", LIC + "ETALAB_2_0"),
    ("Licence Ouverte (Etalab)", LIC + "ETALAB_2_0"),  # udata lists it as a title of lov2
    ("lov2", LIC + "ETALAB_2_0"),
    ("etalab-2.0", LIC + "ETALAB_2_0"),
    ("https://www.etalab.gouv.fr/licence-ouverte-open-licence", LIC + "ETALAB_2_0"),
    (
        "https://www.etalab.gouv.fr/wp-content/uploads/2017/04/ETALAB-Licence-Ouverte-v2.0.pdf",
        LIC + "ETALAB_2_0",
    ),
    ("Licence Ouverte Version 1.0", LO_1),
    ("Licence ouverte / Open Licence", LO_1),
    ("Licence Ouverte 1.0 (Etalab)", LO_1),
    ("Licence Ouverte data.gouv.fr", LO_1),
    ("fr-lo", LO_1),
    ("http://www.data.gouv.fr/Licence-Ouverte-Open-Licence", LO_1),
    ("https://wiki.data.gouv.fr/images/9/9d/Licence_Ouverte.pdf", LO_1),
    ("http://www.etalab.gouv.fr/pages/Licence_ouverte_Open_licence-5899923.html", LO_1),
    ("odc-odbl", LIC + "ODC_BL"),
    ("ODbL", LIC + "ODC_BL"),
    ("ODbL-1.0", LIC + "ODC_BL"),
    ("Open Database License (ODbL)", LIC + "ODC_BL"),
    ("ODbL Paris ", LIC + "ODC_BL"),
    ("ODBl Paris", LIC + "ODC_BL"),
    ("http://opendatacommons.org/licenses/odbl/summary/", LIC + "ODC_BL"),
    ("http://www.openstreetmap.org/copyright/en", LIC + "ODC_BL"),
    ("CC-BY-4.0", LIC + "CC_BY_4_0"),
    ("CC BY 4.0", LIC + "CC_BY_4_0"),
    ("cc-by", LIC + "CC_BY_4_0"),
    ("Creative Commons Attribution", LIC + "CC_BY_4_0"),
    ("http://www.opendefinition.org/licenses/cc-by", LIC + "CC_BY_4_0"),
    ("https://creativecommons.org/licenses/by/4.0/", LIC + "CC_BY_4_0"),
    ("https://creativecommons.org/licenses/by/4.0/legalcode.fr", LIC + "CC_BY_4_0"),
    ("http://creativecommons.org/licenses/by/3.0/", LIC + "CC_BY_3_0"),
    ("https://creativecommons.org/licenses/by-sa/2.0/", LIC + "CC_BYSA_2_0"),
    ("cc-by-sa", LIC + "CC_BYSA_4_0"),
    ("Creative Commons Attribution Share-Alike", LIC + "CC_BYSA_4_0"),
    ("CC BY-SA", LIC + "CC_BYSA_4_0"),
    ("http://creativecommons.org/licenses/by-nc/2.0/", LIC + "CC_BYNC_2_0"),
    ("https://creativecommons.org/publicdomain/zero/1.0/", LIC + "CC0"),
    ("http://www.opendefinition.org/licenses/cc-zero", LIC + "CC0"),
    ("http://dcat-ap.de/def/licenses/cc-zero", LIC + "CC0"),
    ("http://dcat-ap.de/def/licenses/dl-by-de/2_0", LIC + "DLDE_BY_2_0"),
    ("Open Government Licence v3.0", LIC + "OGL_3_0"),
    ("http://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/", LIC + "OGL_3_0"),
    ("http://ec.europa.eu/geninfo/legal_notices_en.htm", LIC + "COM_REUSE"),
    (
        "https://creativecommons.org/licenses/by/3.0/it/",
        "https://w3id.org/italia/controlled-vocabulary/licences/A23_CCBY30IT",
    ),
    ("https://opendata.swiss/terms-of-use#terms_open", "http://dcat-ap.ch/vocabulary/licenses/terms_open"),
    ("http://dcat-ap.ch/vocabulary/licenses/terms_by", "http://dcat-ap.ch/vocabulary/licenses/terms_by"),
    ("cc-by-igo", "http://spdx.org/licenses/CC-BY-3.0-IGO"),
    ("http://www.usa.gov/publicdomain/label/1.0/", "http://www.usa.gov/publicdomain/label/1.0/"),
    ("http://publications.europa.eu/resource/authority/licence/CC_BYNCND_3_0", LIC + "CC_BYNCND_3_0"),
    ("Apache-2.0", LIC + "APACHE_2_0"),
    ("MIT", LIC + "MIT"),
    ("EUPL-1.2", LIC + "EUPL_1_2"),
    ("CECILL-2.1", LIC + "CECILL_2_1"),
    ("GPL-3.0-only", LIC + "GPL_3_0"),
    ("http://spdx.org/licenses/ODbL-1.0.html", LIC + "ODC_BL"),
]

# Values with no known licence: they must stay unmapped (and be kept by the mapper as `unmapped`).
NOT_LICENCES = [
    "notspecified",
    "License not specified",
    "other-open",
    "Other (Open)",
    "https://opendataphilly.org/licenses/other",
    "https://project-open-data.cio.gov/unknown-license",
    "http://cassini.apur.opendata.arcgis.com/datasets/ff62d4ba368d4a9eb3de56d57b2f487c_0/license.json",
    "https://metadata.phila.gov/#help/help-faqs/what-are-the-terms-of-use/",
    "None",
    "",
    None,
]

FORMATS = [
    ("CSV", FT + "CSV"),
    ("csv", FT + "CSV"),
    (".csv", FT + "CSV"),
    ("text/csv", FT + "CSV"),
    ("text/csv; charset=utf-8", FT + "CSV"),
    ("http://www.iana.org/assignments/media-types/text/csv", FT + "CSV"),
    ("https://www.iana.org/assignments/media-types/text/csv", FT + "CSV"),
    ("http://publications.europa.eu/resource/authority/file-type/CSV", FT + "CSV"),
    ("ESRI Shapefile", FT + "SHP"),
    ("SHP", FT + "SHP"),
    ("shapefile", FT + "SHP"),
    ("geojson", FT + "GEOJSON"),
    ("GeoJSON", FT + "GEOJSON"),
    ("application/vnd.geo+json", FT + "GEOJSON"),
    ("https://www.iana.org/assignments/media-types/application/geo+json", FT + "GEOJSON"),
    ("xls", FT + "XLS"),
    (".xls", FT + "XLS"),
    ("application/vnd.ms-excel", FT + "XLS"),
    ("XLSX", FT + "XLSX"),
    (".xlsx", FT + "XLSX"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", FT + "XLSX"),
    ("JSON", FT + "JSON"),
    ("application/json", FT + "JSON"),
    ("JSON-LD", FT + "JSON_LD"),
    ("HTML", FT + "HTML"),
    ("Web page", FT + "HTML"),
    ("page web", FT + "HTML"),
    ("text/html", FT + "HTML"),
    ("pdf", FT + "PDF"),
    ("application/pdf", FT + "PDF"),
    ("ZIP", FT + "ZIP"),
    ("application/zip", FT + "ZIP"),
    ("KML", FT + "KML"),
    ("application/vnd.google-earth.kml+xml", FT + "KML"),
    ("application/vnd.google-earth.kmz", FT + "KMZ"),
    ("Esri REST", FT + "REST"),
    ("ArcGIS GeoServices REST API", FT + "REST"),
    ("WMS", FT + "WMS_SRVC"),
    ("OGC WMS", FT + "WMS_SRVC"),
    ("WCS", FT + "WCS_SRVC"),
    ("GDB", FT + "GDB"),
    ("LAS", FT + "LAS"),
    ("application/vnd.las", FT + "LAS"),
    ("TIFF", FT + "TIFF"),
    ("TIF", FT + "TIFF"),
    ("image/tiff", FT + "TIFF"),
    ("JPEG", FT + "JPEG"),
    ("txt", FT + "TXT"),
    ("text/plain", FT + "TXT"),
    ("RSS", FT + "RSS"),
    ("ttl", FT + "RDF_TURTLE"),
    ("n-triples", FT + "RDF_N_TRIPLES"),
    ("RDF N-Triples", FT + "RDF_N_TRIPLES"),
    ("application/rdf+xml", FT + "RDF_XML"),
    ("application/sparql-query", FT + "SPARQLQ"),
    ("ESRI ASCII Grid", FT + "GRID_ASCII"),
    ("iCalendar", FT + "ICS"),
    ("text/calendar", FT + "ICS"),
    ("netcdf4", FT + "NETCDF"),
    ("WORLDFILE", FT + "WORLD"),
    ("mp4", FT + "MPEG4"),
    ("application/octet-stream", FT + "OCTET"),
    ("https://resources.data.gov/vocab/file-type/TODO/JSON", FT + "JSON"),
]

NOT_FORMATS = ["API", "video", "None", "CSV, JSON", "", None]

MEDIA_TYPES = [
    ("text/csv", IANA + "text/csv"),
    ("text/csv; charset=utf-8", IANA + "text/csv"),
    ("TEXT/CSV", IANA + "text/csv"),
    ("application/csv", IANA + "text/csv"),
    ("application/xls", IANA + "application/vnd.ms-excel"),
    ("application/vnd.geo+json", IANA + "application/vnd.geo+json"),
    ("https://www.iana.org/assignments/media-types/application/gml+xml", IANA + "application/gml+xml"),
    ("http://www.iana.org/assignments/media-types/text/html", IANA + "text/html"),
    ("application/x-zip-compressed", IANA + "application/zip"),
    ("application/zip", IANA + "application/zip"),
]

NOT_MEDIA_TYPES = ["application/x-raster-ecw", "xlsx", "CSV", "http://www.w3.org/ns/dcat#mediaType", "", None]

THEMES = [
    ("TRAN", ["TRAN"]),
    ("http://publications.europa.eu/resource/authority/data-theme/HEAL", ["HEAL"]),
    ("Transport et déplacements", ["TRAN"]),
    ("Transports, Déplacements", ["TRAN"]),
    ("Mobilité", ["TRAN"]),
    ("Transportation", ["TRAN"]),
    ("Administration", ["GOVE"]),
    ("Administration, Gouvernement, Finances publiques, Citoyenneté", ["GOVE"]),
    ("Administration, Government, Public finances, Citizenship", ["GOVE"]),
    ("Culture et patrimoine", ["EDUC"]),
    ("Culture, Heritage", ["EDUC"]),
    ("Environnement", ["ENVI"]),
    ("Environment", ["ENVI"]),
    ("Aménagement du territoire", ["REGI"]),
    ("Aménagement du territoire, Urbanisme, Bâtiments, Equipements, Logement", ["REGI"]),
    ("Spatial planning, Town planning, Buildings, Equipment, Housing", ["REGI"]),
    ("Services et social", ["SOCI"]),
    ("Services, Social", ["SOCI"]),
    ("Sport et loisirs", ["EDUC"]),
    ("Économie", ["ECON"]),
    ("Economie, Business, PME, Développement économique, Emploi", ["ECON"]),
    ("Economic Development", ["ECON"]),
    ("Santé", ["HEAL"]),
    ("Health", ["HEAL"]),
    ("Énergie", ["ENER"]),
    ("Justice", ["JUST"]),
    ("Justice, Safety, Police, Crime", ["JUST"]),
    ("Public Safety", ["JUST"]),
    ("Sciences", ["TECH"]),
    ("Education", ["EDUC"]),
    ("Education, Formation, Recherche, Enseignement", ["EDUC"]),
    ("Environnement et énergie", ["ENER", "ENVI"]),
    # Several Opendatasoft themes in one value, each label holding commas itself.
    ("Culture, Patrimoine, Sport, Loisirs", ["EDUC"]),
    ("Transports, Déplacements, Environnement", ["TRAN", "ENVI"]),
    ("Santé, Services, Social", ["HEAL", "SOCI"]),
    (
        "Education, Formation, Recherche, Enseignement, Santé, Égalité des chances, Economie, Business, PME, "
        "Développement économique, Emploi",
        ["EDUC", "HEAL", "SOCI", "ECON"],
    ),
    (
        "Spatial planning, Town planning, Buildings, Equipment, Housing, Transport, Movements, Justice, "
        "Safety, Police, Crime",
        ["REGI", "TRAN", "JUST"],
    ),
    ("Santé; Justice", ["HEAL", "JUST"]),
    ("http://public.opendatasoft.com/id/theme/transports-déplacements", ["TRAN"]),
    ("http://opendata.swiss/themes/work", ["ECON"]),
    ("http://dcat-ap.ch/vocabulary/themes/statistical-basis", ["GOVE"]),
    ("geospatial", []),
    ("Theme 1", []),
]

LANGUAGES = [
    ("fr", "FRA"),
    ("fra", "FRA"),
    ("fre", "FRA"),
    ("FR", "FRA"),
    ("French", "FRA"),
    ("français", "FRA"),
    ("fr-FR", "FRA"),
    ("http://id.loc.gov/vocabulary/iso639-1/fr", "FRA"),
    ("http://id.loc.gov/vocabulary/iso639-2/fre", "FRA"),
    ("http://publications.europa.eu/resource/authority/language/FRA", "FRA"),
    ("http://publications.europa.eu/resource/authority/language/FRE", "FRA"),
    ("en", "ENG"),
    ("eng", "ENG"),
    ("en-US", "ENG"),
    ("http://id.loc.gov/vocabulary/iso639-1/en", "ENG"),
    ("de", "DEU"),
    ("ca", "CAT"),
    ("es", "SPA"),
    ("http://publications.europa.eu/resource/authority/language/ITA", "ITA"),
    ("http://publications.europa.eu/resource/authority/language/ZXX", "ZXX"),
]

FREQUENCIES = [
    ("annual", "ANNUAL"),
    ("Annual", "ANNUAL"),
    ("annuel", "ANNUAL"),
    ("annuelle", "ANNUAL"),
    ("Annuelle", "ANNUAL"),
    ("Yearly", "ANNUAL"),
    ("R/P1Y", "ANNUAL"),
    ("R/P1M", "MONTHLY"),
    ("R/P1W", "WEEKLY"),
    ("R/P1D", "DAILY"),
    ("R/P3M", "QUARTERLY"),
    ("R/P6M", "ANNUAL_2"),
    ("R/PT1H", "HOURLY"),
    ("daily", "DAILY"),
    ("weekly", "WEEKLY"),
    ("monthly", "MONTHLY"),
    ("quarterly", "QUARTERLY"),
    ("semiannual", "ANNUAL_2"),
    ("Semestrielle", "ANNUAL_2"),
    ("trimestrielle", "QUARTERLY"),
    ("Journalière", "DAILY"),
    ("Tous les 10 ans", "DECENNIAL"),
    ("Pas de mise à jour", "NEVER"),
    ("non précisée", "UNKNOWN"),
    ("punctual", "NEVER"),
    ("irregular", "IRREG"),
    ("continuous", "CONT"),
    ("unknown", "UNKNOWN"),
    ("http://purl.org/cld/freq/daily", "DAILY"),
    ("http://purl.org/cld/freq/irregular", "IRREG"),
    ("http://publications.europa.eu/resource/authority/frequency/BIENNIAL", "BIENNIAL"),
    ("http://publications.europa.eu/resource/authority/frequency/UPDATE_CONT", "UPDATE_CONT"),
    ("http://publications.europa.eu/resource/authority/frequency/AS_NEEDED", "AS_NEEDED"),
]

ACCESS_RIGHTS = [
    ("public", "PUBLIC"),
    ("restricted public", "RESTRICTED"),
    ("non-public", "NON_PUBLIC"),
    ("http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC", "NON_PUBLIC"),
    ("https://resources.data.gov/vocab/access-right/TODO/PUBLIC", "PUBLIC"),
]


@pytest.mark.parametrize(("value", "uri"), LICENCES)
def test_licence(value, uri):
    found = licence_uri(value)
    assert found is not None, value
    assert found.uri == uri


@pytest.mark.parametrize("value", NOT_LICENCES)
def test_not_a_licence(value):
    assert licence_uri(value) is None


def test_licence_confidence():
    assert licence_uri(LIC + "ETALAB_2_0") == (LIC + "ETALAB_2_0", "exact")
    assert (
        licence_uri("https://publications.europa.eu/resource/authority/licence/ETALAB_2_0/").confidence
        == "exact"
    )
    assert licence_uri("Licence Ouverte v2.0").confidence == "alias"
    # A URL of another namespace ending with an EU code (DCAT-US 3.0 placeholder vocabulary).
    assert licence_uri("https://resources.data.gov/vocab/license/TODO/CC_BYNC_4_0") == (
        LIC + "CC_BYNC_4_0",
        "fuzzy",
    )


def test_licence_in_html_and_sentences():
    # Real values: an ArcGIS Hub licence field (HTML), a data.json licence with a link, an ODS sentence.
    evian = (
        '<DIV STYLE="text-align:Left;"><DIV><DIV><P><SPAN>Soumis à la licence Etalab : '
        "https://www.etalab.gouv.fr/licence-ouverte-open-licence/</SPAN></P></DIV></DIV></DIV>"
    )
    act = (
        "<div style='margin:0px;'><a href='https://creativecommons.org/licenses/by/4.0/' rel='nofollow ugc'>"
        "Creative<span> </span>Common<span> </span>By Attribution 4.0 (Australian Capital Territory)</a></div>"
        "<div><span>Please read </span><a href='https://www.actmapi.act.gov.au/terms.html'>Data Terms and "
        "Conditions</a></div>"
    )
    geofla = (
        "La réutilisation de GEOFLA® est gratuite pour tous les usages, y compris commerciaux, selon les termes "
        'de la "licence ouverte" version 1.0'
    )
    assert licence_uri(evian) == (LIC + "ETALAB_2_0", "fuzzy")
    assert licence_uri(act) == (LIC + "CC_BY_4_0", "fuzzy")
    assert licence_uri(geofla) == (LO_1, "fuzzy")
    # Two different licences named: no single answer.
    assert licence_uri("Choose CC-BY-4.0 or ODbL-1.0, or see https://example.org/terms") is None


@pytest.mark.parametrize(("value", "uri"), FORMATS)
def test_format(value, uri):
    found = format_uri(value)
    assert found is not None, value
    assert found.uri == uri


@pytest.mark.parametrize("value", NOT_FORMATS)
def test_not_a_format(value):
    assert format_uri(value) is None


@pytest.mark.parametrize(("value", "uri"), MEDIA_TYPES)
def test_media_type(value, uri):
    assert media_type_uri(value) == uri


@pytest.mark.parametrize("value", NOT_MEDIA_TYPES)
def test_not_a_registered_media_type(value):
    assert media_type_uri(value) is None


@pytest.mark.parametrize(("value", "codes"), THEMES)
def test_themes(value, codes):
    assert sorted(m.uri for m in theme_uris(value)) == sorted(THEME + c for c in codes)


@pytest.mark.parametrize(("value", "code"), LANGUAGES)
def test_language(value, code):
    assert language_uri(value) is not None, value
    assert language_uri(value).uri == LANG + code


@pytest.mark.parametrize("value", ["拉丁语", "http://id.loc.gov/vocabulary/iso639-1/", "xx", None])
def test_not_a_language(value):
    assert language_uri(value) is None


@pytest.mark.parametrize(("value", "code"), FREQUENCIES)
def test_frequency(value, code):
    assert frequency_uri(value) is not None, value
    assert frequency_uri(value).uri == FREQ + code


@pytest.mark.parametrize(
    "value", ["每年", "http://purl.org/cld/freq/ThisTermDoesNotExist", "fourTimesADay", "30"]
)
def test_not_a_frequency(value):
    assert frequency_uri(value) is None


@pytest.mark.parametrize(("value", "code"), ACCESS_RIGHTS)
def test_access_right(value, code):
    assert access_right_uri(value).uri == EU + "access-right/" + code


def test_results_are_cached_and_clearable():
    assert licence_uri("lov2") is licence_uri("lov2")
    normalise.clear_caches()
    assert licence_uri.cache_info().currsize == 0
    assert licence_uri("lov2").uri == LIC + "ETALAB_2_0"


def test_tables_load_with_their_provenance():
    for name in (*vocabularies.VOCABULARIES, "media-type"):
        table = vocabularies.vocabulary(name)
        assert len(table) > 0
        assert table.version and table.source, name
    assert vocabularies.label(LIC + "ETALAB_2_0") == "Licence Ouverte / Open Licence version 2.0"
    assert vocabularies.label(THEME + "TRAN", "en") == "Transport"
    assert vocabularies.label(FT + "CSV") == "CSV"


def test_vocabulary_lookups():
    licences = vocabularies.vocabulary("licence")
    # A label shared by a deprecated concept and its current successor names the current one.
    assert licences.lookup("Creative Commons Attribution 4.0 International").uri == LIC + "CC_BY_4_0"
    assert LIC + "CC_BY" in licences.deprecated
    # A portal category that covers two EU themes names both; lookup gives one of them.
    themes = vocabularies.vocabulary("data-theme")
    assert {m.uri for m in themes.lookup_all("Environnement et énergie")} == {THEME + "ENVI", THEME + "ENER"}
    assert themes.lookup("Environnement et énergie").uri in {THEME + "ENVI", THEME + "ENER"}
    assert vocabularies.fold("Licence-Ouverte  V2.0 ") == vocabularies.fold("LICENCE OUVERTE v2 0")
    assert vocabularies.fold("Main-d’Œuvre") == "main d oeuvre"


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "https://creativecommons.org/licenses/by/4.0/legalcode.fr",
            "http://creativecommons.org/licenses/by/4.0",
        ),
        ("https://creativecommons.org/licenses/by/4.0/deed.fr", "http://creativecommons.org/licenses/by/4.0"),
        ("http://www.opendefinition.org/licenses/cc-by/", "http://opendefinition.org/licenses/cc-by"),
        ("https://spdx.org/licenses/MIT.html", "http://spdx.org/licenses/MIT"),
        ("https://opendata.swiss/terms-of-use#terms_by", "http://opendata.swiss/terms-of-use#terms_by"),
        ("ODbL", "ODbL"),
    ],
)
def test_canonical_url(url, canonical):
    assert vocabularies.canonical_url(url) == canonical


def test_committed_tables_are_the_build_output():
    """The tables in mappings/ are what build_vocabularies makes from the corpus and the aliases files."""
    if not (CORPUS / "vocabularies").is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS} (tests read it from ../shared/corpus)")
    built = build_vocabularies.build_all(CORPUS)
    for name, (text, _, _) in built.items():
        path = Path(build_vocabularies.__file__).parent / f"{name}.yaml"
        assert path.read_text(encoding="utf-8") == text, f"{name}.yaml is stale: run build_vocabularies"
    assert build_vocabularies.build_all(CORPUS) == built  # deterministic


# --- Dates ------------------------------------------------------------------------------------------------

DATES = [
    # (value, expected, month_first)
    ("2019-09-30 22:00:00", "2019-09-30T22:00:00", False),  # udata-dkan-french-w-license.json
    ("2014-11-12T09:47:16+0000", "2014-11-12T09:47:16Z", False),  # antwerpen-datatank-dcat-2015.ttl
    ("2014-09-12T05:39:31.894000+00:00", "2014-09-12T05:39:31Z", False),  # udata
    ("2015-07-22T14:30:12.133585", "2015-07-22T14:30:12", False),  # CKAN metadata_modified
    ("2016-10-07T10:37:40.000Z", "2016-10-07T10:37:40Z", False),
    ("2023-06-04 10:25:23.022766+02", "2023-06-04T10:25:23+02:00", False),  # hour-only offset
    ("2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00+01:00", False),
    ("2012-05-10T21:04", "2012-05-10T21:04:00", False),
    ("1901-01-01T00:00:00\n                ", "1901-01-01T00:00:00", False),
    ("2024-05-01", "2024-05-01", False),
    ("1991-04", "1991-04", False),  # opendata-swiss dataset-datetimes-bad.xml: partial dates
    ("1993", "1993", False),
    ("1999-4-4", "1999-04-04", False),
    ("2000-4", "2000-04", False),
    ("2001-6-06", "2001-06-06", False),
    ("2002-01T00:00:00", "2002-01", False),  # a time glued to a year-month: precision kept as given
    ("2008-01-01T00:00:75", "2008-01-01", False),  # invalid time: the date alone
    ("2010-01-35", None, False),
    ("2009-01-35T00:00:00", None, False),
    ("2012-15", None, False),
    ("-2015", None, False),
    ("20201117", "2020-11-17", False),
    ("06/05/2009", "2009-05-06", False),  # European day first by default
    ("01/01/1997", "1997-01-01", True),  # HDX / data.json, month first
    ("06/17/2017", "2017-06-17", False),  # only valid month first
    ("06/05/2009", "2009-06-05", True),
    ("jeu, 19/12/2019 - 03:00", "2019-12-19T03:00:00", False),  # DKAN (Drupal) dates
    ("Date changed  jeu, 19/12/2019 - 03:00", "2019-12-19T03:00:00", False),  # DKAN, with its label
    ("19 décembre 2019", "2019-12-19", False),  # month names, French and English
    ("1er mars 2020", "2020-03-01", False),
    ("December 19, 2019", "2019-12-19", False),
    ("19 Dec. 2019", "2019-12-19", False),
    ("mars 2020", "2020-03", False),
    ("31 février 2020", None, False),
    ("Spring 2019", None, False),
    ("unknown", None, False),  # govdata-sachsen-dataset.rdf
    ("R/P1W", None, False),  # cftc-dcatus.json modified
    ("01/01/1997-12/31/2015", None, True),  # a period, not a date
    ("[1970-01-01T00:00:00 TO 2019-12-31T23:59:59]", None, False),
    ("", None, False),
    (None, None, False),  # opendataphilly-dcatus-with-nulls.json
]


@pytest.mark.parametrize(("value", "expected", "month_first"), DATES)
def test_normalise_date(value, expected, month_first):
    assert normalise_date(value, month_first=month_first) == expected


def test_date_shapes_give_xsd_types():
    assert xsd_type(normalise_date("1993")).endswith("gYear")
    assert xsd_type(normalise_date("1991-04")).endswith("gYearMonth")
    assert xsd_type(normalise_date("1999-4-4")).endswith("#date")
    assert xsd_type(normalise_date("2019-09-30 22:00:00")).endswith("dateTime")
    assert sort_key(normalise_date("1991-04")) == "1991-04-01"


# --- The corpus -------------------------------------------------------------------------------------------

DCT = "http://purl.org/dc/terms/"
DCAT = "http://www.w3.org/ns/dcat#"
RDF_PROPERTIES = {
    DCT + "license": "licence",
    DCT + "format": "format",
    DCAT + "mediaType": "format",
    DCAT + "theme": "theme",
    DCT + "language": "language",
    DCT + "accrualPeriodicity": "frequency",
    DCT + "issued": "date",
    DCT + "modified": "date",
    DCAT + "startDate": "date",
    DCAT + "endDate": "date",
    "http://schema.org/startDate": "date",
    "http://schema.org/endDate": "date",
}
JSON_KEYS = {
    "license": "licence",
    "license_id": "licence",
    "license_title": "licence",
    "license_url": "licence",
    "theme": "theme",
    "language": "language",
    "accrualPeriodicity": "frequency",
    "frequency": "frequency",
    "issued": "date",
    "modified": "date",
    "created": "date",
    "metadata_created": "date",
    "metadata_modified": "date",
    "last_modified": "date",
    "created_at": "date",
}
DISTRIBUTION_KEYS = {"format": "format", "mediaType": "format", "mimetype": "format", "mime": "format"}
DISTRIBUTION_LISTS = {"resources", "distribution", "distributions"}
RDF_SUFFIXES = {".ttl": ox.RdfFormat.TURTLE, ".rdf": ox.RdfFormat.RDF_XML, ".nt": ox.RdfFormat.N_TRIPLES}


def _walk(node, out: dict[str, list[str]], in_distribution: bool = False) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            kind = JSON_KEYS.get(key) or (DISTRIBUTION_KEYS.get(key) if in_distribution else None)
            if kind:
                if isinstance(value, dict):  # udata / CKAN licence objects
                    value = value.get("id") or value.get("title")
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str) and item.strip():
                        out[kind].append(item)
                    elif item is None and kind == "date":
                        out[kind].append(None)
            _walk(value, out, key in DISTRIBUTION_LISTS)
    elif isinstance(node, list):
        for item in node:
            _walk(item, out, in_distribution)


def _rdf_values(path: Path, fmt, out: dict[str, list[str]]) -> None:
    quads = list(ox.parse(path=str(path), format=fmt, base_iri="http://corpus.invalid/", lenient=True))
    by_subject = defaultdict(list)
    for quad in quads:
        by_subject[quad.subject].append(quad)
    for quad in quads:
        kind = RDF_PROPERTIES.get(quad.predicate.value)
        obj = quad.object
        if not kind:
            continue
        # A described node (dct:IMT, dct:LicenseDocument, datos.gob.es formats): its rdf:value, else its label.
        inner = sorted(
            (q.predicate.value.endswith("#label"), q.object.value)
            for q in by_subject.get(obj, ())
            if q.predicate.value.endswith(("#value", "#label"))
        )
        if inner:
            out[kind].append(inner[0][1])
        elif not isinstance(obj, ox.BlankNode) and obj.value.strip():
            out[kind].append(obj.value)


@cache
def corpus_values() -> dict[str, tuple[str | None, ...]]:
    """Every licence, format, theme, language, frequency and date value of the corpus documents."""
    out: dict[str, list[str]] = defaultdict(list)
    json_files = [
        *sorted((CORPUS / "ckan").rglob("*.json")),
        *sorted((CORPUS / "udata").rglob("*.json")),
        *sorted((CORPUS / "datajson").rglob("*.json")),
        *sorted(p for p in (CORPUS / "ods").rglob("*.json") if p.name != "explore-v2.1-openapi.json"),
        CORPUS / "dcat/udata-fixtures/evian.json",  # data.json shape
        CORPUS / "dcat/ckanext-dcat/catalog_pod.jsonld",  # data.json shape
    ]
    for path in json_files:
        _walk(json.loads(path.read_text(encoding="utf-8")), out)
    with (CORPUS / "ods/ods-public-opendatasoft-catalog-2015.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for column, kind in [("license", "licence"), ("theme", "theme"), ("language", "language"),
                                 ("dcat.accrualperiodicity", "frequency"), ("modified", "date"),
                                 ("dcat.issued", "date"), ("dcat.created", "date")]:  # fmt: skip
                if row[column].strip():
                    out[kind].append(row[column])
    for path in sorted((CORPUS / "dcat").rglob("*")):
        fmt = RDF_SUFFIXES.get(path.suffix) or (ox.RdfFormat.RDF_XML if path.suffix == ".xml" else None)
        if fmt is None:
            continue
        with contextlib.suppress(
            SyntaxError
        ):  # the corpus keeps some documents that do not parse, on purpose
            _rdf_values(path, fmt, out)
    return {kind: tuple(values) for kind, values in out.items()}


@pytest.fixture(scope="module")
def corpus():
    if not (CORPUS / "MANIFEST.md").is_file():
        pytest.skip(f"the shared corpus is not at {CORPUS} (tests read it from ../shared/corpus)")
    return corpus_values()


# Values with no licence to name, excluded from the share: placeholders of test fixtures, a property URI
# given as value, "not specified"/"other"/"unknown" ids, portal terms-of-use pages and proprietary terms with no
# controlled equivalent, and generic public-domain statements. Each pattern was checked against the corpus.
NO_LICENCE_MEANING = [
    (r"^(notspecified|License not specified|None|other-open|Other \(Open\))$", "says no licence"),
    (r"unknown-license|/licenses/other$", "says no licence"),
    (r"data\.some\.org|url\.to\.license|exampleMS\.gov|^http://purl\.org/dc/terms/license$", "placeholder"),
    (
        r"opendata\.arcgis\.com/datasets/.*/license\.json$|hub\.arcgis\.com/api/v2/datasets/.*/license$",
        "ArcGIS Hub per-dataset terms page",
    ),
    (r"metadata\.phila\.gov/#help", "portal terms-of-use page"),
    (r"OPEN DATA .*TERMS OF USE AGREEMENT", "portal terms-of-use text (Oakland County)"),
    (
        r"netatmo|jcdecaux|worldbank\.org/terms|datos\.madrid\.es/egob/catalogo/aviso-legal",
        "proprietary terms",
    ),
    (r"^Insee$|insee\.fr/fr/service/default\.asp\?page=rediffusion", "INSEE's former reuse terms"),
    (r"^Ayant droit IGN", "IGN restricted-use terms"),
    (r"^Public Domain$|wikipedia\.org/wiki/Public_domain", "generic public-domain statement"),
]
# Values that name no file format: access kinds, placeholders, several formats in one value, test junk.
NO_FORMAT_MEANING = [
    (
        r"^(API|api|APP|APPLICATION|video|image|text|None|uri|r package|R package|Kartenviewer)$",
        "not a file format",
    ),
    (r"^(http://purl\.org/dc/terms/format|http://www\.w3\.org/ns/dcat#mediaType)$", "property URI as value"),
    (
        r"^http://publications\.europa\.eu/mdr/resource/authority/file-type/xml/filetypes\.xml$",
        "the NAL file itself",
    ),
    (r"^(wu|wuwuwu|xcls|hdfjpg|HT ML|jrss|csv excel)$", "test or typing junk"),
    (r"^WWW:LINK-1\.0-http--link$", "an OGC link protocol, not a format"),
    (r",", "several formats in one value"),
]


def _share(values, mapper, exclusions):
    excluded: Counter = Counter()
    known: list[str] = []
    for value in values:
        text = (value or "").strip()
        if not text:
            continue
        reason = next((why for pattern, why in exclusions if re.search(pattern, text, re.IGNORECASE)), None)
        if reason:
            excluded[reason] += 1
        else:
            known.append(text)
    unmapped = Counter(v for v in known if not mapper(v))
    share = 1 - sum(unmapped.values()) / len(known)
    return share, known, unmapped, excluded


def _report(kind, values, share, known, unmapped, excluded):
    mapped = len(known) - sum(unmapped.values())
    print(
        f"\n{kind}: {len(values)} corpus values ({len(set(values))} distinct); {len(known)} with a known meaning "
        f"({len(set(known))} distinct); {share:.1%} of those map to a controlled URI "
        f"({mapped / len(values):.1%} of all values)"
    )
    print(f"  excluded: {dict(excluded)}")
    print(f"  unmapped: {unmapped.most_common(15)}")


def test_corpus_licences_map(corpus):
    values = corpus["licence"]
    share, known, unmapped, excluded = _share(values, licence_uri, NO_LICENCE_MEANING)
    _report("licences", values, share, known, unmapped, excluded)
    assert len(values) >= 100 and len(set(known)) >= 50
    assert share >= 0.95, unmapped.most_common(20)


def test_corpus_formats_map(corpus):
    values = corpus["format"]
    share, known, unmapped, excluded = _share(values, format_uri, NO_FORMAT_MEANING)
    _report("formats", values, share, known, unmapped, excluded)
    assert len(values) >= 100 and len(set(known)) >= 50
    assert share >= 0.95, unmapped.most_common(20)


# Media types portals send that the IANA registry (2024-08-02) does not have: no IANA URI is made up for them.
UNREGISTERED = {
    "application/rss+xml",
    "application/vnd.ogc.wms_xml",
    "application/x-erdas-hfa",
    "application/x-raster-ecw",
}


def test_corpus_media_types_are_registered(corpus):
    """Every media-type-shaped corpus value gets an IANA URI, except types IANA does not register."""
    values = {v.split(";")[0].strip().lower() for v in corpus["format"] if re.match(r"^[a-z]+/[\w.+-]+", v)}
    missing = {v for v in values if media_type_uri(v) is None}
    print(f"\nmedia types: {len(values)} distinct, no IANA URI for {sorted(missing)}")
    assert missing <= UNREGISTERED


def test_corpus_themes_languages_frequencies(corpus):
    """Reported, and held to what the corpus allows: their unmapped values are test junk or have no EU concept."""
    # Most unmapped themes are ArcGIS Hub's "geospatial" and test fixtures' "Theme 1" or example.org URIs.
    checks = {
        "theme": (theme_uris, 0.60),
        "language": (language_uri, 0.95),
        "frequency": (frequency_uri, 0.85),
    }
    for kind, (mapper, floor) in checks.items():
        values = [v for v in corpus[kind] if v and v.strip()]
        unmapped = Counter(v for v in values if not mapper(v))
        share = 1 - sum(unmapped.values()) / len(values)
        print(f"\n{kind}: {len(values)} values ({len(set(values))} distinct), {share:.1%} mapped; unmapped: "
              f"{unmapped.most_common(10)}")  # fmt: skip
        assert share >= floor, (kind, unmapped.most_common(20))


_ISO_OUTPUT = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def test_corpus_dates(corpus):
    """Every corpus date value gives None or a well-formed ISO string; none with a valid leading date is lost."""
    values = corpus["date"]
    results = Counter()
    for value in values:
        iso = normalise_date(value)
        results["none" if iso is None else xsd_type(iso).rsplit("#", 1)[-1]] += 1
        if iso is not None:
            assert _ISO_OUTPUT.match(iso), (value, iso)
        elif value and (lead := _FULL_DATE.match(value.strip())):
            _, month, day = map(int, lead.groups())
            assert not (1 <= month <= 12 and 1 <= day <= 28), value
    print(f"\ndates: {len(values)} values: {dict(results)}")
    assert len(values) >= 1000


def test_best_text_is_the_first_of_its_language():
    from fedcat.mappings.model import Text, text_in

    # The DataTank's agent lists 40 names: the first the source gives is the one shown, not the last
    names = [Text("Stad Antwerpen"), Text("Digipolis Antwerpen"), Text("SW")]
    assert text_in(names) == "Stad Antwerpen"
    assert text_in([Text("Ville", "fr"), Text("City", "en"), Text("Commune", "fr")], ("en", "fr")) == "City"
    assert text_in([Text("Stadt", "de"), Text("Ville", "fr"), Text("Cité", "fr")]) == "Ville"
