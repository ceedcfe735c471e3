"""The web pages in a real browser: Debian's headless Chromium driven by Playwright (its executable given, no
browser download), with axe-core (npm, pinned in tests/browser/package.json) injected into the pages.

A person's path: search "vélo", pick a facet, go to page 2, open a dataset, follow its Turtle link, switch
language. Every request the browser makes must go to 127.0.0.1 (others are blocked and fail the test), no
console error may appear, and the hostile description must run nothing. Screenshots go to test-artefacts/
(git-ignored) for a person to look at.

Skipped, with the reason, where Chromium, Playwright or axe-core is not installed (.ci/run installs them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from web_site import HOSTILE_IRI, WebSite, served, web_site

ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = ROOT / "test-artefacts"
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("FEDCAT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set FEDCAT_CHROMIUM)",
        allow_module_level=True,
    )


class Browser:
    """One page in a fresh context, recording console errors and every request leaving 127.0.0.1."""

    def __init__(self, browser, base: str, locale: str = "fr-FR") -> None:
        # bypass_csp: axe-core is injected as a script into pages whose policy forbids every script
        self.context = browser.new_context(
            locale=locale, bypass_csp=True, viewport={"width": 1280, "height": 900}
        )
        self.page = self.context.new_page()
        self.base = base
        self.console_errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        self.context.route("**/*", self._only_loopback)

    def _only_loopback(self, route, request) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith(("data:", "about:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(request.url)
            route.abort()

    def shot(self, name: str) -> None:
        ARTEFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)

    def axe(self) -> list[dict]:
        """Serious and critical axe-core violations of the current page."""
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        return [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebSite, str]]:
    with web_site(tmp_path_factory.mktemp("web-browser")) as built, served(built.app) as base:
        yield built, base


@pytest.fixture(scope="module")
def chromium():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def visit(chromium, site) -> Iterator[Browser]:
    opened = Browser(chromium, site[1])
    yield opened
    opened.close()


def test_a_person_searches_filters_pages_opens_a_dataset_and_switches_language(visit: Browser) -> None:
    page = visit.page
    page.goto(visit.base + "/")
    page.get_by_label("Mots à chercher").fill("vélo")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_url(lambda url: "q=v%C3%A9lo" in url)
    total = page.locator(".results h2").inner_text()
    assert total.endswith("jeux de données")
    visit.shot("1-search-velo")

    page.locator(".facet a", has_text="Transports").first.click()
    page.wait_for_url(lambda url: "theme=" in url)
    assert page.locator(".active li").first.inner_text().startswith("Thème: Transports")
    filtered = int("".join(ch for ch in page.locator(".results h2").inner_text() if ch.isdigit()))
    assert 20 < filtered < int("".join(ch for ch in total if ch.isdigit()))
    visit.shot("2-facet-transport")

    page.get_by_role("link", name="Suivante").click()
    page.wait_for_url(lambda url: "page=2" in url)
    assert page.locator("ol.hits").get_attribute("start") == "21"
    visit.shot("3-page-2")

    first = page.locator("ol.hits h3 a").first
    title = first.inner_text()
    first.click()
    assert page.locator("h1").inner_text() == title
    visit.shot("4-dataset")

    turtle_url = page.get_by_role("link", name="Turtle").get_attribute("href")
    turtle = page.request.get(visit.base + turtle_url)
    assert turtle.ok and turtle.headers["content-type"].startswith("text/turtle")
    assert title in turtle.text()

    page.get_by_role("link", name="English").click()
    page.wait_for_url(lambda url: "lang=en" in url)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Files and services").is_visible()
    page.get_by_role("link", name="Search", exact=True).click()  # the cookie keeps the language
    assert page.locator("h1").inner_text() == "Search open data"
    visit.shot("5-english")

    assert visit.console_errors == []
    assert visit.outside == []


def test_the_hostile_description_runs_nothing(visit: Browser, site) -> None:
    built, _base = site
    page = visit.page
    page.goto(f"{visit.base}/datasets/{built.id_of('ville', HOSTILE_IRI)}")
    page.locator(".description a", has_text="piège").click()  # its javascript: target was removed
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.locator(".description b").inner_text() == "ArcGIS"
    visit.shot("6-hostile")
    assert visit.outside == []


@pytest.mark.skipif(
    not AXE.exists(), reason=f"axe-core is not installed ({AXE}): npm ci --prefix tests/browser"
)
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?q=v%C3%A9lo&theme=http%3A%2F%2Fpublications.europa.eu%2Fresource%2Fauthority%2Fdata-theme%2FTRAN",
        "dataset",
        "/sources",
        "/sources/ville",
        "/catalog?page=2&page_size=10",
        "/quality",
        "/audit",
        "/audit/commune:59350",
        "/audit/commune:59009",  # where it publishes: a portal not harvested yet
    ],
)
def test_no_serious_accessibility_violation(visit: Browser, site, path: str) -> None:
    built, _base = site
    if path == "dataset":
        path = f"/datasets/{built.id_of('ville', HOSTILE_IRI)}"
    visit.page.goto(visit.base + path)
    visit.shot("page-" + (path.strip("/").split("?")[0].replace("/", "-").replace(":", "-") or "search"))
    assert visit.axe() == []
    assert visit.console_errors == [] and visit.outside == []


def test_keyboard_reaches_the_search_box_with_a_visible_focus(visit: Browser) -> None:
    page = visit.page
    page.goto(visit.base + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Aller au contenu"
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")


def test_api_docs_render_offline(visit: Browser) -> None:
    page = visit.page
    page.goto(visit.base + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert "fedcat" in page.locator(".swagger-ui .info .title").inner_text()
    visit.shot("7-docs")
    page.goto(visit.base + "/redoc")
    page.wait_for_selector("h1", timeout=15000)
    assert "fedcat" in page.locator("h1").first.inner_text()
    assert visit.outside == []
