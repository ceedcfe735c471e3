"""The web pages through a real harvest (two DCAT portals on 127.0.0.1 -> store and index -> app).

Expected figures come from the store's records (the source of truth) or from the catalogue the test wrote,
never from the page code itself. The browser tests (Chromium, axe-core) are in test_web_browser.py.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.demo.portal import PortalServer
from fedcat.federation.areas import areas_for
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.mappings.model import Location, Text
from fedcat.store import Store, record_id
from fedcat.store.federation import FederationTables
from fedcat.web import i18n
from fedcat.web.pages import place
from fedcat.web.render import flat_text, plain_excerpt, safe_description
from markdown_it import MarkdownIt
from web_site import DISCOVERED, HOSTILE_IRI, SHARED_IRI, THEME, WebSite, web_site

WEB = Path(__file__).resolve().parents[1] / "web"
FR = {"Accept": "text/html", "Accept-Language": "fr-FR,fr;q=0.9,en;q=0.8"}
EN = {"Accept": "text/html", "Accept-Language": "en-GB,en;q=0.9"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    with web_site(tmp_path_factory.mktemp("web")) as built:
        yield built


@pytest.fixture(scope="module")
def client(site: WebSite) -> TestClient:
    return TestClient(site.app)


@pytest.fixture(autouse=True)
def _no_language_cookie_between_tests(client: TestClient) -> Iterator[None]:
    client.cookies.clear()
    yield
    client.cookies.clear()


class Page(HTMLParser):
    """The parts of a page the tests read: links (href, text), the h1/h2 texts, html[lang], script tags."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.headings: dict[str, list[str]] = {"h1": [], "h2": []}
        self.lang, self.scripts, self.ol_start = None, 0, None
        self._open: list[tuple[str, list[str], str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "script":
            self.scripts += 1
        if tag == "ol" and "start" in a:
            self.ol_start = int(a["start"] or 0)
        if tag in ("a", "h1", "h2"):
            self._open.append((tag, [], a.get("href")))

    def handle_data(self, data: str) -> None:
        for _tag, texts, _href in self._open:
            texts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _tag, texts, href = self._open.pop()
            text = " ".join("".join(texts).split())
            if tag == "a":
                self.links.append((href or "", text))
            else:
                self.headings[tag].append(text)

    def link(self, text: str) -> str:
        found = [href for href, t in self.links if t == text]
        assert found, f"no link {text!r} among {[t for _h, t in self.links]}"
        return found[0]


def hits(html: str) -> list[str]:
    """The dataset links of the result list, in order (not the "also published by" ones)."""
    return re.findall(r'<h3><a href="(/datasets/[^"/.]+)">', html)


def get(client: TestClient, url: str, headers: dict[str, str] = FR, status: int = 200) -> Page:
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return Page(response.text)


def live_records(site: WebSite) -> list[dict]:
    return list(site.store.iter_records())


def hit_count(site: WebSite, records: list[dict]) -> int:
    """Search hits for these records: one per federation cluster (a record not clustered is its own hit)."""
    clusters = FederationTables(site.store).clusters_of([r["id"] for r in records])
    return len({clusters.get(r["id"], r["id"]) for r in records})


# --- the French catalogue -------------------------------------------------------------------------------

MESSAGE = re.compile(r"""(?:\b_|gettext)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
PLURAL = re.compile(r'ngettext\(\s*"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"')


def test_every_message_of_the_pages_has_a_french_translation() -> None:
    messages = set()
    for path in WEB.rglob("*"):
        if path.suffix in (".py", ".html"):
            text = path.read_text(encoding="utf-8")
            messages |= {m[0] or m[1] for m in MESSAGE.findall(text)}
            messages |= {m[0] for m in PLURAL.findall(text)}
    assert len(messages) > 150  # the pattern still finds the messages
    with (i18n.LOCALES / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="fr")
    translated = {
        m.id[0] if isinstance(m.id, tuple) else m.id
        for m in catalog
        if m.id and all(m.string if isinstance(m.string, tuple) else (m.string,))
    }
    untranslated = sorted(messages - translated)
    assert untranslated == []


def test_the_language_comes_from_the_url_then_the_cookie_then_accept_language() -> None:
    assert i18n.choose(None, None, "en-US,en;q=0.9,fr;q=0.5") == "en"
    assert i18n.choose(None, None, "de-DE, fr;q=0.4, en;q=0.6") == "en"
    assert i18n.choose(None, None, "de-DE") == "fr"
    assert i18n.choose(None, "en", "fr") == "en"
    assert i18n.choose("fr", "en", "en") == "fr"
    assert i18n.choose("xx", None, "en") == "en"


# --- search ------------------------------------------------------------------------------------------------


def test_search_counts_every_matching_record_in_the_page_language(site: WebSite, client: TestClient) -> None:
    total = hit_count(site, live_records(site))  # every record of the test catalogues is about bikes
    french = get(client, "/?q=v%C3%A9lo")
    assert french.lang == "fr" and f"{total} jeux de données" in french.headings["h2"]
    english = get(client, "/?q=velo", headers=EN)
    assert english.lang == "en" and f"{total} datasets" in english.headings["h2"]
    assert french.scripts == 0 and english.scripts == 0  # the pages need no JavaScript


def test_facets_show_labels_and_filter_by_following_their_link(site: WebSite, client: TestClient) -> None:
    page = get(client, "/?q=v%C3%A9lo")
    texts = [t for _h, t in page.links]
    assert "Transports" in texts and "Environnement" in texts
    assert not [t for t in texts if t.startswith(("http://", "https://", "commune:", "epci:"))]
    transport = hit_count(site, [r for r in live_records(site) if f"{THEME}TRAN" in r["dataset"].themes])
    filtered = get(client, page.link("Transports"))
    assert f"{transport} jeux de données" in filtered.headings["h2"]
    assert "Filtres actifs" in filtered.headings["h2"]
    removed = get(client, filtered.link("Thème: Transports ×(retirer)"))
    assert f"{hit_count(site, live_records(site))} jeux de données" in removed.headings["h2"]
    english = get(client, "/?q=velo", headers=EN)
    assert "Transport" in [t for _h, t in english.links]


def test_pages_are_stable_urls_that_together_list_every_hit(site: WebSite, client: TestClient) -> None:
    seen: list[str] = []
    url = "/?q=v%C3%A9lo&sort=modified"
    for number in (1, 2, 3):
        html = client.get(url, headers=FR).text
        page = Page(html)
        assert page.ol_start == (number - 1) * 20 + 1
        seen.extend(hits(html))
        if number < 3:
            url = page.link("Suivante")
            assert f"page={number + 1}" in url and "sort=modified" in url
    assert len(seen) == len(set(seen)) == hit_count(site, live_records(site))


def test_the_federated_copy_says_who_else_publishes_it(site: WebSite, client: TestClient) -> None:
    page = client.get("/?q=v%C3%A9loroutes", headers=FR).text
    assert "Aussi publié par" in page and "Open data MEL" in page and "Open data Lille" in page


def test_jurisdiction_picker_nests_communes_in_their_epci(client: TestClient) -> None:
    html = client.get("/", headers=FR).text
    picker = html[
        html.index('<section class="facet areas"') : html.index("</section>", html.index("facet areas"))
    ]
    # région > département > EPCI > commune, each inside the one above (registry of public bodies), folded
    # without script: the widest levels open, the rest behind <details>
    order = [
        picker.index(f">{name}</a>")
        for name in ("Hauts-de-France", "Nord", "Métropole Européenne de Lille", "Lille")
    ]
    assert order == sorted(order)
    lille = picker.index(">Lille</a>")
    epci = picker.index(">Métropole Européenne de Lille</a>")
    assert picker.rfind("<details", 0, lille) > epci  # Lille is in the EPCI's fold
    assert picker.count("<details") == picker.count("</details>") == 3
    assert "<summary>Communes (1)</summary>" in picker and "<script" not in html
    assert "epci:200093201" not in re.sub(r'href="[^"]*"', "", picker)  # names, never keys
    # each area is a link to the search filtered to it (and everything inside it), its count that search's
    page = Page(html)
    href = page.link("Métropole Européenne de Lille")
    assert href == "/?jurisdiction=epci%3A200093201"
    count = re.search(r">Métropole Européenne de Lille</a> <span class=\"count\">(\d+)<", picker)
    filtered = Page(client.get(href, headers=FR).text).headings["h2"]
    assert count and any(h.startswith(f"{count.group(1)} jeu") for h in filtered)
    # a chosen commune opens its branches; the filter is kept when searching other words
    chosen = client.get("/?jurisdiction=commune%3A59350", headers=FR).text
    tree = chosen[chosen.index('<section class="facet areas"') :]
    assert tree.count("<details open>") == 3
    assert '<input type="hidden" name="jurisdiction" value="commune:59350">' in chosen


def test_the_catalogue_page_lists_every_record_a_page_at_a_time(site: WebSite, client: TestClient) -> None:
    records = live_records(site)
    first = client.get("/catalog?page_size=10", headers=EN)
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    page = Page(first.text)
    assert page.lang == "en" and page.scripts == 0
    assert f"{len(records)} datasets — page 1 of {-(-len(records) // 10)}" in page.headings["h2"]
    assert '<form class="search" method="get" action="/" role="search">' in first.text  # a search box
    assert page.link("Turtle") == "/catalog.ttl?page_size=10"  # this very page as RDF
    # following "Next" reads every live record once, each linked to its page on this site
    seen: list[str] = []
    url: str | None = "/catalog?page_size=10"
    while url:
        html = client.get(url, headers=EN).text
        seen += hits(html)
        found = [href for href, text in Page(html).links if text == "Next"]
        url = found[0] if found else None
    assert sorted(seen) == sorted(f"/datasets/{r['id']}" for r in records)
    french = Page(client.get("/catalog?page_size=10", headers=FR).text)
    assert french.lang == "fr" and french.link("Suivante").startswith("/catalog?page=2&page_size=10")


def test_a_bad_date_is_explained_in_the_page_language(client: TestClient) -> None:
    french = client.get("/?modified_after=2024-13-45", headers=FR).text
    assert "« 2024-13-45 » n’est pas une date" in french
    english = client.get("/?modified_after=2024-13-45&lang=en", headers=FR)
    assert "“2024-13-45” is not a date" in english.text
    assert english.cookies.get("lang") == "en"  # the switch is kept for the next pages


def test_an_unknown_filter_is_explained_in_the_page_not_answered_with_json(client: TestClient) -> None:
    everything = Page(client.get("/", headers=FR).text).headings["h2"]
    answer = client.get("/?theme=nonsense&lang=en", headers=FR)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "Unknown theme “nonsense”: that filter is left out." in answer.text
    french = client.get("/?theme=nonsense&lang=fr", headers=FR)
    assert "theme inconnu « nonsense » : ce filtre est ignoré." in french.text
    assert Page(french.text).headings["h2"][-1] == everything[-1]  # the search ran without the refused filter


def test_the_language_switch_is_kept_in_a_cookie(client: TestClient) -> None:
    fresh = TestClient(client.app)
    switched = Page(fresh.get("/?lang=en", headers=FR).text)
    assert switched.lang == "en"
    later = Page(fresh.get("/sources", headers=FR).text)
    assert later.lang == "en" and "Sources" in later.headings["h1"]
    assert "Français" in [t for _h, t in later.links]


# --- the dataset page ---------------------------------------------------------------------------------------


def test_a_hostile_description_is_rendered_inert(site: WebSite, client: TestClient) -> None:
    html = client.get(f"/datasets/{site.id_of('ville', HOSTILE_IRI)}", headers=FR).text
    description = html[
        html.index('class="description"') : html.index("</div>", html.index('class="description"'))
    ]
    for bad in ("<script", "onerror", "onclick", "javascript:", "style=", "__pwned"):
        assert bad not in description.lower(), bad
    assert "<strong>vélo</strong>" in description  # Markdown rendered
    assert "<b>ArcGIS</b>" in description  # allowed HTML kept, not shown as markup
    assert "&lt;div&gt;" not in description
    assert (
        '<a href="https://ville.example/files/velo.csv" rel="nofollow noopener noreferrer">CSV</a>'
        in description
    )
    assert '<a rel="nofollow noopener noreferrer">piège</a>' in description  # text kept, target dropped


def test_result_excerpts_are_plain_words(site: WebSite, client: TestClient) -> None:
    html = client.get("/?q=hostile", headers=FR).text
    excerpt = html[html.index('class="excerpt"') : html.index("</p>", html.index('class="excerpt"'))]
    assert "Comptages vélo au format CSV. Texte ArcGIS piège fin" in excerpt
    assert "**" not in excerpt and "&lt;" not in excerpt


MARKDOWN = MarkdownIt("commonmark", {"html": True, "linkify": False}).disable("image")  # as web/render.py's


def _excerpt_through_markdown(text: str) -> str:
    """The excerpt's words as Markdown renders them, whatever the text (the reference for the fast path)."""
    return flat_text(MARKDOWN.render(text))


def _descriptions(corpus: Path) -> list[str]:
    texts: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("description", "notes") and isinstance(value, str):
                    texts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((corpus / "udata").glob("*.json")) + sorted((corpus / "ckan").rglob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return texts


def test_excerpts_of_texts_without_markdown_read_as_rendered(corpus: Path) -> None:
    """Texts without Markdown syntax skip the Markdown renderer: their excerpt must be the rendered one,
    for the portals' own descriptions and for texts made of the characters Markdown reads at a line's start
    or strips (no-break spaces, odd whitespace, numbers and dashes, blank lines)."""
    rng = random.Random(18)
    pieces = [*"abc déf 0123456789", " ", "  ", "\n", "\n\n", "\n \n", "\r", "\r\n", "\t", "    ", ".", ")"]
    pieces += [
        "-",
        "+",
        "#",
        "=",
        "!",
        '"',
        "'",
        "\xa0",
        ":",
        "|",
        "\u2028",
        "\x0c",
        "\x1f",
        "\x85",
        "\u3000",
    ]
    pieces += ["\ufeff", "\u202f", "1.", "2)", " - ", "a-b"]
    made = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(4_000)]
    texts = _descriptions(corpus) + made
    for text in texts:
        assert plain_excerpt(text, limit=100_000) == _excerpt_through_markdown(text), repr(text)
    # Markdown of the corpus still goes through the renderer
    assert plain_excerpt("**Données** de [la ville](https://ville.example)") == "Données de la ville"
    assert plain_excerpt("1. un\n2. deux") == "un deux"


def test_excerpts_show_entities_as_characters() -> None:
    # French text puts a no-break space before ":" (nh3 writes it &nbsp;); "&amp;lt;" is the text "&lt;"
    assert plain_excerpt("Données\u00a0: horaires") == "Données\u00a0: horaires"
    assert plain_excerpt("<p>a &amp;lt; b &amp; c</p>") == "a &lt; b & c"


def test_sanitiser_allow_list() -> None:
    assert str(
        safe_description("<iframe src='https://evil.example'></iframe>ok")
    ).strip() == "<p>ok</p>" or "iframe" not in str(
        safe_description("<iframe src='https://evil.example'></iframe>ok")
    )
    assert "href" not in str(safe_description('<a href="data:text/html,<script>">x</a>'))
    assert "<h3>" in str(safe_description("# Titre"))  # the source's headings sit under the page's own


def test_dataset_page_reads_every_field_and_links_back(site: WebSite, client: TestClient) -> None:
    fedcat_id = site.id_of("ville", SHARED_IRI)
    page = get(client, f"/datasets/{fedcat_id}")
    html = client.get(f"/datasets/{fedcat_id}", headers=FR).text
    assert page.headings["h1"] == ["Véloroutes (copie fédérée)"]
    assert "Licence Ouverte" in html and "123 456 octets" in html.replace("\u202f", " ").replace("\xa0", " ")
    assert (
        page.link("Transports")
        == "/?theme=http%3A%2F%2Fpublications.europa.eu%2Fresource%2Fauthority%2Fdata-theme%2FTRAN"
    )
    assert page.link("vélo") == "/?keyword=v%C3%A9lo"
    assert page.link("Turtle") == f"/datasets/{fedcat_id}.ttl"
    assert page.link("Télécharger GeoJSON").endswith("/files/data.geojson")
    other = site.id_of("metro", SHARED_IRI)
    assert f"/datasets/{other}" in [h for h, _t in page.links]  # provenance: the copy of the other source
    assert "Open data MEL" in html and "Open data Lille" in html
    record = site.store.record(fedcat_id)
    assert record is not None
    assert "Qualité des métadonnées" in page.headings["h2"]
    english = get(client, f"/datasets/{fedcat_id}?lang=en")
    assert "Files and services" in english.headings["h2"]
    turtle = client.get(page.link("Turtle"))
    assert turtle.headers["content-type"].startswith("text/turtle") and "Véloroutes" in turtle.text


def test_a_browser_gets_a_page_for_an_unknown_dataset_or_source(client: TestClient) -> None:
    page = get(client, "/datasets/ville-0000000000000000", status=404)
    assert page.headings["h1"] == ["Introuvable"]
    assert get(client, "/sources/nowhere?lang=en", status=404).headings["h1"] == ["Not found"]
    rdf = client.get("/datasets/ville-0000000000000000", headers={"Accept": "text/turtle"})
    assert rdf.status_code == 404 and rdf.json()["errors"][0]["parameter"] == "id"


def test_pages_forbid_scripts_by_policy(client: TestClient) -> None:
    for url in ("/", "/sources", "/quality", "/audit"):
        policy = client.get(url, headers=FR).headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy


# --- sources, runs, quality, audit -----------------------------------------------------------------------------


def test_a_browser_gets_the_source_page_and_an_rdf_client_the_catalog(
    site: WebSite, client: TestClient
) -> None:
    browser = {
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "fr",
    }
    page = get(client, "/sources/ville", headers=browser)
    assert page.headings["h1"] == ["Open data Lille"]
    run_id = site.store.runs("ville", limit=1)[0]["id"]
    run = get(client, page.link(str(run_id)))
    assert run.headings["h1"] == [f"Moisson {run_id}"]
    rdf = client.get("/sources/ville", headers={"Accept": "text/turtle"})
    assert rdf.headers["content-type"].startswith("text/turtle") and "dcat:Catalog" in rdf.text
    listing = client.get("/sources", headers=browser).text
    assert "Open data MEL" in listing and "complète" in listing
    assert str(site.store.count("ville")) in listing


def test_quality_page_has_a_server_made_chart(client: TestClient) -> None:
    html = client.get("/quality", headers=FR).text
    assert '<svg class="chart" role="img"' in html and "<title>Score moyen par source</title>" in html
    assert "Open data Lille" in html and "Open data MEL" in html


def test_audit_pages_never_claim_a_breach(client: TestClient) -> None:
    html = client.get("/audit", headers=FR).text
    assert "Lille" in html and "Warneton" in html and "aucune trace trouvée" in html.lower()
    assert "infraction" not in html and "breach" not in html
    body = get(client, "/audit/commune:59350")
    assert body.headings["h1"] == ["Lille"]
    english = client.get("/audit/commune:59643?lang=en").text
    assert "no evidence found" in english.lower() and "does not say that a body breaks the law" in english


def test_audit_pages_tell_a_portal_not_harvested_yet_from_no_evidence(client: TestClient) -> None:
    html = client.get("/audit", headers=FR).text
    row = re.search(r"<tr><td><a href=\"/audit/commune:59009\">.*?</tr>", html, re.S)
    assert row and "sur un portail pas encore moissonné" in row[0]
    warneton = re.search(r"<tr><td><a href=\"/audit/commune:59643\">.*?</tr>", html, re.S)
    assert warneton and "aucune trace trouvée" in warneton[0]
    page = client.get("/audit/commune:59009", headers=FR).text
    assert "Où il publie" in page and "pas encore moissonné" in page
    assert f'href="{DISCOVERED["url"]}"' in page and "confirmé" in page
    assert "Le parcours s’est arrêté à une limite" in page  # the crawl was capped
    assert f"url: {DISCOVERED['url']}" in page  # the sources.yaml entry proposed
    english = client.get("/audit/commune:59009?lang=en").text
    assert "its website links to a portal or catalogue not harvested yet" in english
    lille = client.get("/audit/commune:59350?lang=en").text
    assert 'href="/sources/ville"' in lille and "Datasets found in the harvested catalogues." in lille
    assert "Proposed sources.yaml entries" not in lille  # its one finding is harvested
    never = client.get("/audit/commune:59643?lang=en").text
    assert "Its website has not been crawled" in never


def test_audit_without_a_registry_says_so_in_the_page_language(site: WebSite) -> None:
    from dataclasses import replace

    from fedcat.api.app import create_app

    config = replace(site.config, settings=replace(site.config.settings, bodies=()))
    bare = TestClient(create_app(site.store, site.backend, config))
    assert "Aucun référentiel de collectivités n’est configuré" in bare.get("/audit", headers=FR).text
    assert "No registry of public bodies is configured" in bare.get("/audit", headers=EN).text


def test_docs_and_redoc_load_their_assets_from_fedcat(client: TestClient) -> None:
    for url in ("/docs", "/redoc"):
        html = client.get(url).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources and all(s.startswith("/") for s in sources), sources
        for asset in sources:
            assert client.get(asset).status_code == 200, asset


def test_every_quality_indicator_and_dimension_has_words() -> None:
    from fedcat.mappings.quality import DIMENSIONS, INDICATORS
    from fedcat.web.pages import quality_labels

    labels = quality_labels(i18n.Language("fr"))
    assert sorted(set(DIMENSIONS) | {name for _d, name, _p in INDICATORS}) == sorted(labels)
    assert labels["dcat_ap_compliance"] == "Conformité DCAT-AP"


def test_pages_never_link_into_a_private_network() -> None:
    from fedcat.web.render import linkable

    for url in ("http://127.0.0.1:8080/x", "http://10.0.0.5/", "http://[::1]/", "http://192.168.1.1/a",
                "http://169.254.169.254/latest/meta-data", "http://intranet.local/", "http://localhost/",
                "javascript:alert(1)", "ftp://ftp.example.org/", "file:///etc/passwd"):  # fmt: skip
        assert not linkable(url), url
    assert linkable("https://data.lille.fr/explore/") and linkable("http://8.8.8.8/")
    cleaned = str(
        safe_description('<a href="http://192.168.0.1/admin">box</a> <a href="https://ok.example/">ok</a>')
    )
    assert "192.168" not in cleaned and 'href="https://ok.example/"' in cleaned


def test_source_credentials_never_reach_a_page(site: WebSite) -> None:
    from dataclasses import replace

    from fedcat.api.app import create_app
    from fedcat.config import Source

    secret = Source(
        "private", "Portail privé", "dcat", "https://user:hunter2@portal.example/catalog.ttl?apikey=s3cret"
    )
    config = replace(site.config, sources=(*site.config.sources, secret))
    client = TestClient(create_app(site.store, site.backend, config))
    for url in ("/sources", "/sources/private"):
        html = client.get(url, headers=FR).text
        assert "Portail privé" in html and "hunter2" not in html and "s3cret" not in html


def test_places_and_dates_read_as_a_person_reads_them() -> None:
    fr, en = i18n.Language("fr"), i18n.Language("en")
    # a Location known only by its geometry (GovData's GeoJSON + WKT): the box it covers, not ";" or nothing
    polygon = "POLYGON ((10.3263 53.3949, 10.3263 53.9641, 8.4205 53.9641, 8.4205 53.3949, 10.3263 53.3949))"
    assert place(Location(geometry=polygon), en) == (
        "longitude 8.4205 to 10.3263, latitude 53.3949 to 53.9641"
    )
    assert place(Location(geometry=polygon), fr) == ("longitude 8,4205 à 10,3263, latitude 53,3949 à 53,9641")
    assert place(Location(label=[Text("Hamburg", "de")], geometry=polygon), en) == "Hamburg"
    assert place(Location(), en) == ""  # nothing to say: left out of the page
    # a date written as a midnight timestamp is a date; a real moment keeps its time
    assert en.date("2016-01-01T00:00:00") == en.date("2016-01-01") == "Jan 1, 2016"
    assert fr.date("2016-12-31T00:00:00Z") == "31 déc. 2016"
    assert "12:34" in en.date("2026-12-03T12:34:33Z")


def test_udata_zone_ids_read_as_the_registry_names_them(corpus: Path) -> None:
    fr = i18n.Language("fr")
    areas = areas_for(sorted((corpus / "bodies").glob("decoupage-administratif-*.json")))
    assert place(Location(label=[Text("fr:commune:59350")]), fr, areas) == "Lille"
    assert place(Location(label=[Text("fr:epci:200093201")]), fr, areas) == "Métropole Européenne de Lille"
    assert place(Location(label=[Text("country:fr")]), fr, areas) == "France"
    assert place(Location(label=[Text("fr:commune:99999")]), fr, areas) == "fr:commune:99999"  # unknown


SERIES_TTL = """@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix adms: <http://www.w3.org/ns/adms#> .
<https://stats.example/catalog> a dcat:Catalog ;
  dcat:dataset <https://stats.example/bees>, <https://stats.example/bees-2023>, <https://stats.example/bees-2024> .
<https://stats.example/bees> a dcat:DatasetSeries ; dct:title "Bee population"@en ;
  dct:description "Yearly bee counts."@en .
<https://stats.example/bees-2023> a dcat:Dataset ; dct:title "Bee population 2023"@en ;
  dct:description "Counts of 2023."@en ; dcat:inSeries <https://stats.example/bees> ;
  <http://data.europa.eu/r5r/hvdCategory> <http://data.europa.eu/bna/c_dd313021> ;
  <http://data.europa.eu/r5r/applicableLegislation> <http://data.europa.eu/eli/reg_impl/2023/138/oj>,
    <http://data.europa.eu/eli/dir/2007/2/2019-06-26> .
<https://stats.example/bees-2024> a dcat:Dataset ; dct:title "Bee population 2024"@en ;
  dct:description "Counts of 2024."@en ; dcat:inSeries <https://stats.example/bees> ;
  dcat:version "2.1" ; adms:versionNotes "Hives of the islands added."@en ;
  dct:provenance [ a dct:ProvenanceStatement ; rdfs:label "Counted by beekeepers, checked twice."@en ] ;
  dcat:hasVersion <https://stats.example/bees-2024-draft> .
""".replace("@prefix adms:", "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n@prefix adms:")


def test_dataset_page_shows_series_versions_and_lineage(tmp_path: Path) -> None:
    with PortalServer() as portal:
        portal.add("/catalog.ttl", SERIES_TTL)
        config = parse_config(
            {
                "settings": {"base_url": "http://fedcat.test", "http": {"retries": 0}},
                "sources": [
                    {"id": "stats", "name": "Stats", "type": "dcat", "url": portal.url("/catalog.ttl")}
                ],
            }
        )
        store, backend = Store(tmp_path / "fedcat.db"), EmbeddedBackend(tmp_path / "index")
        try:
            [result] = harvest(config, store, backend)
            assert result.status == "complete", result.message
            client = TestClient(create_app(store, backend, config))
            ids = {
                name: record_id("stats", f"https://stats.example/{name}") for name in ("bees", "bees-2024")
            }
            html = {"Accept": "text/html"}
            member = client.get(f"/datasets/{ids['bees-2024']}?lang=en", headers=html).text
            assert f'<a href="/datasets/{ids["bees"]}">Bee population</a>' in member  # its series, by title
            assert "Hives of the islands added." in member and "2.1" in member
            assert "Counted by beekeepers, checked twice." in member
            assert 'href="https://stats.example/bees-2024-draft"' in member  # another version, out there
            series = client.get(f"/datasets/{ids['bees']}?lang=fr", headers=html).text
            assert "Série de jeux de données" in series and "Jeux de données de cette série" in series
            assert "Bee population 2023" in series and "Bee population 2024" in series
            # a high-value dataset: its category named, the acts that make it one cited as people cite them
            hvd_id = record_id("stats", "https://stats.example/bees-2023")
            english = client.get(f"/datasets/{hvd_id}?lang=en", headers=html).text
            assert (
                "<dt>High-value dataset categories</dt><dd>Earth observation and environment</dd>" in english
            )
            eli = "http://data.europa.eu/eli/reg_impl/2023/138/oj"
            assert f'<a href="{eli}" rel="nofollow noopener">Implementing Regulation 2023/138</a>' in english
            assert "Directive 2007/2 (version of Jun 26, 2019)" in english
            french = client.get(f"/datasets/{hvd_id}?lang=fr", headers=html).text
            assert "<dd>Observation de la Terre et environnement</dd>" in french
            assert "Règlement d&#39;exécution 2023/138" in french
            labels = client.get(f"/api/datasets/{hvd_id}").json()["labels"]
            assert (
                labels["http://data.europa.eu/bna/c_dd313021"] == "Observation de la Terre et environnement"
            )
        finally:
            backend.close()
            store.close()
