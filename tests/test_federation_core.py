"""The pure federation core: normalisation, blocking keys, evidence rules, clustering, overrides, canonical."""

from __future__ import annotations

import pytest
from fedcat.federation.cluster import closure, cluster
from fedcat.federation.keys import copy_of, described, identity_keys, normal_url, title_key
from fedcat.federation.rules import FORCED, Overrides, RulesError, default_rules, load_overrides
from fedcat.mappings.model import (
    Agent,
    ContactPoint,
    Dataset,
    Distribution,
    Location,
    PeriodOfTime,
    Text,
    dataset_to_json,
)
from fedcat.mappings.quality import completeness, score


def dataset(title="Comptages vélo", publisher="Ville de Lille", **fields) -> Dataset:
    fields.setdefault("distributions", [Distribution(format="CSV")])
    return Dataset(
        uri="https://fedcat.example/d/x",
        title=[Text(title)],
        publisher=Agent(name=[Text(publisher)]) if publisher else None,
        **fields,
    )


def clusters_of(*copies, **kwargs):
    return {tuple(sorted(c.members)): c for c in cluster(copies, **kwargs)}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "https://www.Data.Lillemetropole.fr/explore/dataset/velo/",
            "http://data.lillemetropole.fr/explore/dataset/velo",
        ),
        ("https://example.org:443/x?b=2&a=1", "http://example.org/x?a=1&b=2"),
        ("http://example.org:80/a%20b", "https://example.org/a b/"),
    ],
)
def test_urls_that_name_one_page_meet(a, b):
    assert normal_url(a) == normal_url(b)


def test_urls_that_differ_stay_apart():
    assert normal_url("https://example.org/x?a=1") != normal_url("https://example.org/x?a=2")
    assert normal_url("https://example.org/ns#d1") != normal_url("https://example.org/ns#d2")
    assert normal_url("https://example.org:8080/x") != normal_url("https://example.org/x")
    assert normal_url("urn:uuid:1234") is None and normal_url("ftp://example.org/x") is None


def _spelt_in_full(url: str) -> str | None:
    """`normal_url` without its shortcuts for plain paths and queries: every path decoded and re-encoded,
    every query parsed and re-encoded."""
    from urllib.parse import parse_qsl, quote, unquote, urlencode

    text = url.strip().strip("<>").strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    host, _, path = rest.partition("/")
    host = host.lower().rpartition("@")[2].removesuffix(":80").removesuffix(":443").removeprefix("www.")
    if not host:
        return None
    path = quote(unquote(path), safe="/:@!$&'()*+,;=-._~").rstrip("/")
    if query:
        query = urlencode(sorted(parse_qsl(query, keep_blank_values=True)))
    return f"{host}/{path}" + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")


QUERIES = ["a=1", "b=2&a=1", "a", "a=", "=b", "=", "&&", "a=1&&b", "a=b=c", "q=x+y", "q=%41", "q=é", "a b=1"]
PATHS = [
    "",
    "/",
    "/x/",
    "/a%20b",
    "/a b",
    "/é",
    "/%C3%A9",
    "/a%2Fb",
    "/a;b=c,d",
    "/~u/x.csv",
    "/a%zz",
    '/a"b',
]


def test_urls_are_spelt_as_the_full_decode_and_encode_spells_them(corpus):
    """The shortcuts for plain paths and queries change no key: every URL of the corpus and every
    combination of awkward paths and queries is spelt as when each is decoded and re-encoded in full."""
    import re

    urls = {f"https://Www.Example.org:443{p}" + (f"?{q}" if q else "") for p in PATHS for q in ["", *QUERIES]}
    for path in corpus.rglob("*"):
        if path.suffix in (".ttl", ".rdf", ".xml", ".json", ".jsonld", ".nt", ".csv", ".html"):
            urls.update(re.findall(r"https?://[^\s\"'<>\\]+", path.read_text(errors="replace")))
    assert len(urls) > 10_000
    assert [u for u in sorted(urls) if normal_url(u) != _spelt_in_full(u)] == []


def _described_in_full() -> list[Dataset]:
    """Datasets with every field the facts and the score read, set, empty or otherwise."""
    eu = "http://publications.europa.eu/resource/authority/"
    full = Distribution(
        access_url=["https://www.example.org/d/1/"],
        download_url=["https://example.org/f/budget.csv?b=2&a=1", "https://example.org/f/a%20b.json"],
        format=eu + "file-type/CSV",
        media_type="https://www.iana.org/assignments/media-types/text/csv",
        licence=eu + "licence/CC_BY_4_0",
        rights="Libre",
        byte_size=123,
        issued="2024-01-01",
        modified="2024-02-01",
    )
    rich = dataset(
        "Budget primitif 2024 de la ville",
        original_uri="https://data.example.org/dataset/budget-2024",
        identifier=["budget-2024", "https://data.example.org/id/42"],
        other_identifier=["5f3a9c0e8b1d2e0012345678", "10.1234/xyz"],
        keywords=[Text("budget", "fr"), Text(" ")],
        themes=[eu + "data-theme/GOVE"],
        contact_points=[ContactPoint(email="open@example.org")],
        distributions=[full, Distribution(format="PDF", access_url=["ftp://example.org/x"])],
        issued="2024-01-01",
        licence=eu + "licence/CC_BY_4_0",
        access_rights=eu + "access-right/PUBLIC",
        temporal=[PeriodOfTime(start="2024-01-01")],
        spatial=[Location(uri="https://example.org/commune/59350")],
        landing_page=["http://www.data.example.org/dataset/budget-2024/"],
        derived_from=["https://national.example.org/datasets/budget-2024"],
        unmapped={"licence": ["Licence maison"], "theme": ["Finances"]},
    )
    bare = Dataset(uri="https://fedcat.example/d/y")
    licensed_by_text = dataset(
        "Arbres", publisher="", distributions=[Distribution(download_url=["https://e.org/a.csv"])],
        unmapped={"access_rights": ["restreint"]},
    )  # fmt: skip
    return [rich, bare, licensed_by_text, dataset(), dataset(distributions=[])]


@pytest.mark.parametrize("whole", _described_in_full())
def test_facts_read_from_the_stored_json_as_from_the_whole_dataset(whole):
    """The view decodes only the fields its facts read (`keys.described`): the same facts and the same
    completeness as from the whole dataset, which the score totals the same way."""
    stored = described(dataset_to_json(whole))
    assert copy_of("x", "s", stored, first_seen="2024") == copy_of("x", "s", whole, first_seen="2024")
    assert completeness(stored) == completeness(whole) == score(whole).total


def test_titles_recased_and_reaccented_meet():
    assert title_key("Comptages  vélo — 2023") == title_key("COMPTAGES VELO 2023")
    assert title_key("Comptages vélo 2023") != title_key("Comptages vélo 2022")


def test_keys_of_a_udata_mirror_meet_the_origin():
    origin = dataset(
        identifier=["comptages-velo"],
        landing_page=["https://data.lillemetropole.fr/explore/dataset/comptages-velo/"],
    )
    mirror = dataset(
        identifier=["5f3a9c0e8b1d2e0012345678"],
        other_identifier=["comptages-velo"],
        landing_page=[
            "http://data.lillemetropole.fr/explore/dataset/comptages-velo",
            "https://www.data.gouv.fr/fr/datasets/x/",
        ],
    )
    shared = set(identity_keys(origin, "lille")) & set(identity_keys(mirror, "lille"))
    assert "provenance:data.lillemetropole.fr|comptages-velo" in shared
    assert "landing:data.lillemetropole.fr/explore/dataset/comptages-velo" in shared
    # a slug is no identifier alone; a 24-character object id is
    assert "identifier:comptages-velo" not in identity_keys(origin)
    assert "identifier:5f3a9c0e8b1d2e0012345678" in identity_keys(mirror)


# each evidence rule alone makes its link -------------------------------------------------------------------

RULE_CASES = {
    "same-iri": (
        dict(original_uri="https://data.example.org/dataset/1"),
        dict(other_identifier=["http://data.example.org/dataset/1/"]),
    ),
    "same-identifier": (
        dict(identifier=["3f2504e0-4f89-11d3-9a0c-0305e82c3301"]),
        dict(other_identifier=["3F2504E0-4F89-11D3-9A0C-0305E82C3301"]),
    ),
    "harvest-provenance": (
        dict(identifier=["arbres"], landing_page=["https://portal.example.org/explore/dataset/arbres/"]),
        dict(other_identifier=["arbres"], landing_page=["https://portal.example.org/explore/arbres-remote"]),
    ),
    "same-landing-page": (
        dict(landing_page=["https://www.example.org/page/?b=1&a=2"]),
        dict(landing_page=["http://example.org/page?a=2&b=1"]),
    ),
    "same-download": (
        dict(distributions=[Distribution(download_url=["https://example.org/f.csv"])]),
        dict(distributions=[Distribution(download_url=["http://www.example.org/f.csv/"])]),
    ),
    "same-publisher-title": (
        dict(distributions=[Distribution(format="CSV")]),
        dict(distributions=[Distribution(format="csv"), Distribution(format="JSON")]),
    ),
}


@pytest.mark.parametrize("rule", sorted(RULE_CASES))
def test_each_evidence_rule_alone_links(rule):
    fields_a, fields_b = RULE_CASES[rule]
    # titles differ except for the title rule, so no other rule can be the one that links
    title_b = "Comptages vélo" if rule == "same-publisher-title" else "Autre titre"
    a = copy_of("a", "s1", dataset(**fields_a))
    b = copy_of("b", "s2", dataset(title=title_b, **fields_b))
    found = clusters_of(a, b)
    assert ("a", "b") in found, f"{rule} did not link"
    assert [(link.rule, link.confidence) for link in found[("a", "b")].links] == [
        (
            rule,
            default_rules().by_kind[next(r.kind for r in default_rules().rules if r.name == rule)].confidence,
        )
    ]


def test_same_title_from_another_publisher_stays_apart():
    a = copy_of("a", "s1", dataset(publisher="Ville de Lille"))
    b = copy_of("b", "s2", dataset(publisher="Ville de Roubaix"))
    assert set(clusters_of(a, b)) == {("a",), ("b",)}


def test_title_rule_needs_overlapping_distributions_and_no_contradiction():
    a = copy_of("a", "s1", dataset(distributions=[Distribution(format="CSV")]))
    b = copy_of("b", "s2", dataset(distributions=[Distribution(format="SHP")]))
    assert ("a", "b") not in clusters_of(a, b)
    # both name their page on one host, and not the same page: two datasets of one title
    c = copy_of("c", "s1", dataset(landing_page=["https://portal.example.org/d/1"]))
    d = copy_of("d", "s2", dataset(landing_page=["https://portal.example.org/d/2"]))
    assert ("c", "d") not in clusters_of(c, d)


@pytest.mark.parametrize(
    "other",
    ["COMPTAGE DES VÉLOS", "Comptages velo.", "Comptages  vélos", "Comtpages vélo"],
)
def test_near_identical_titles_of_one_publisher_link(other):
    a = copy_of("a", "s1", dataset(title="Comptages vélo"))
    b = copy_of("b", "s2", dataset(title=other))
    [found] = [c for c in cluster([a, b]) if len(c.members) == 2]
    assert [link.rule for link in found.links] == ["same-publisher-title"]


@pytest.mark.parametrize(
    "other",
    [
        "Comptages vélo 2024",  # a number more, or another number: another dataset of a series
        "Comptages piétons",  # another word
        "Comptages vélo Métropole Européenne",  # two words more: not near-identical
    ],
)
def test_titles_that_differ_stay_apart(other):
    a = copy_of("a", "s1", dataset(title="Comptages vélo 2023" if "2024" in other else "Comptages vélo"))
    b = copy_of("b", "s2", dataset(title=other))
    assert set(clusters_of(a, b)) == {("a",), ("b",)}


def test_a_title_two_records_of_a_source_share_links_neither():
    a1 = copy_of("a1", "s1", dataset(title="Arbres remarquables"))
    a2 = copy_of("a2", "s1", dataset(title="Arbre remarquable"))
    b = copy_of("b", "s2", dataset(title="Arbres remarquables"))
    assert set(clusters_of(a1, b)) == {("a1", "b")}  # alone, the exact title links
    # with two candidates in s1, b links to its one best match, the exact title, and a2 stays alone
    assert set(clusters_of(a1, a2, b)) == {("a1", "b"), ("a2",)}
    a3 = copy_of("a3", "s1", dataset(title="Arbres remarquables"))
    assert set(clusters_of(a1, a3, b)) == {("a1",), ("a3",), ("b",)}  # a tie: neither


def test_title_similarity_is_configurable():
    a = copy_of("a", "s1", dataset(title="Comptages vélo"))
    b = copy_of("b", "s2", dataset(title="Comptage des vélos"))
    assert ("a", "b") in clusters_of(a, b)
    exact = default_rules().with_threshold(None, title_similarity=1.0)
    assert ("a", "b") not in clusters_of(a, b, rules=exact)
    with pytest.raises(RulesError, match="title_similarity"):
        default_rules().with_threshold(None, title_similarity=1.5)


def test_title_rule_below_threshold_makes_no_link():
    a = copy_of("a", "s1", dataset())
    b = copy_of("b", "s2", dataset())
    assert ("a", "b") in clusters_of(a, b)
    assert ("a", "b") not in clusters_of(a, b, rules=default_rules().with_threshold(0.9))
    with pytest.raises(RulesError, match="threshold"):
        default_rules().with_threshold(2)


def test_a_key_one_source_carries_twice_is_no_evidence():
    home = ["https://opendata.example.org/"]
    copies = [
        copy_of("a1", "s1", dataset(title="Arbres", landing_page=home)),
        copy_of("a2", "s1", dataset(title="Bancs", landing_page=home)),
        copy_of("b", "s2", dataset(title="Écoles", landing_page=home)),
    ]
    assert all(len(c.members) == 1 for c in cluster(copies))


def test_generic_key_shared_by_many_sources_is_no_evidence():
    rules = default_rules()
    page = ["https://europa.eu/licence"]
    copies = [
        copy_of(f"r{n}", f"s{n}", dataset(title=f"T{n}", landing_page=page))
        for n in range(rules.max_block + 1)
    ]
    assert all(len(c.members) == 1 for c in cluster(copies, rules))


def test_forced_split_overrides_evidence_and_forced_merge_joins():
    a = copy_of("a", "s1", dataset(original_uri="https://x.org/1"))
    b = copy_of("b", "s2", dataset(original_uri="https://x.org/1"))
    c = copy_of("c", "s3", dataset(title="Autre", original_uri="https://x.org/1"))
    split = Overrides(splits=(("a", "b"),))
    found = clusters_of(a, b, c, overrides=split)
    assert ("a", "b") not in found and ("a", "b", "c") not in found
    assert {len(m) for m in found} == {1, 2}
    merged = clusters_of(
        copy_of("x", "s1", dataset(title="Un")),
        copy_of("y", "s2", dataset(title="Deux")),
        overrides=Overrides(merges=(("x", "y"),)),
    )
    assert [link.rule for link in merged[("x", "y")].links] == [FORCED]


def test_overrides_file(tmp_path):
    path = tmp_path / "overrides.yaml"
    path.write_text("merge:\n  - [a, b]\nsplit:\n  - [c, d, e]\n")
    overrides = load_overrides(path)
    assert overrides.partners(["a"]) == {"a", "b"}
    assert overrides.forbidden()["c"] == {"d", "e"}
    assert load_overrides(tmp_path / "missing.yaml") == Overrides()
    path.write_text("split:\n  - [c]\n")
    with pytest.raises(RulesError, match="split entry 1"):
        load_overrides(path)


def test_canonical_is_own_source_then_quality_then_oldest():
    shared = dict(original_uri="https://x.org/1")
    own = copy_of("own", "city", dataset(**shared), quality=40, first_seen="2024-01-01", own=True)
    rich = copy_of("rich", "nation", dataset(**shared), quality=90, first_seen="2020-01-01")
    old = copy_of("old", "eu", dataset(**shared), quality=90, first_seen="2019-01-01")
    (only,) = cluster([rich, old, own])
    assert only.members == ["own", "old", "rich"] and only.id == "own"
    (without_own,) = cluster([rich, old])
    assert without_own.id == "old"


def test_closure_follows_keys_clusters_and_merges_but_not_generic_keys():
    keys = {"a": ["k1"], "b": ["k1", "k2"], "c": ["k2"], "d": ["k3"], "e": ["big"], "f": []}
    holders: dict[str, list[str]] = {}
    for record, ks in keys.items():
        for k in ks:
            holders.setdefault(k, []).append(record)
    holders["big"] = [f"g{n}" for n in range(30)]
    clusters = {"c": ["c", "d"], "d": ["c", "d"]}
    found, generic = closure(
        ["a", "e"],
        lambda ids: [k for i in ids for k in keys.get(i, [])],
        lambda ks: {k: holders[k] for k in ks if k in holders},
        lambda ids: [m for i in ids for m in clusters.get(i, [])],
        Overrides(merges=(("d", "f"),)),
        max_block=25,
    )
    assert found == {"a", "b", "c", "d", "e", "f"}
    assert generic == {"big"}


def test_one_shared_file_is_not_the_same_downloads():
    shared = "https://example.org/reference/communes.csv"
    a = copy_of(
        "a",
        "s1",
        dataset(
            title="Arbres",
            distributions=[Distribution(download_url=[shared, "https://example.org/arbres.csv"])],
        ),
    )
    b = copy_of("b", "s2", dataset(title="Lycées", distributions=[Distribution(download_url=[shared])]))
    assert ("a", "b") not in clusters_of(a, b)


def test_opendatasoft_source_links_are_harvest_provenance(corpus):
    """An Opendatasoft dataset federated from another Opendatasoft domain (`source_domain_address`,
    `source_dataset`) meets that domain's record of it; its `references` link is kept as where it came from."""
    import copy
    import json

    from fedcat.mappings.opendatasoft import dataset_from_ods

    item = json.loads((corpus / "ods/explore-v2.1-openapi-examples/dataset-v2.1.json").read_text())
    origin = dataset_from_ods(
        item, "https://fedcat.example/d/origin", "https://documentation-resources.opendatasoft.com"
    )
    assert origin.derived_from == ["https://download.geonames.org/export/dump/"]  # its `references`
    mirror_item = copy.deepcopy(item)
    mirror_item["dataset_id"] = "villes-du-monde"
    mirror_item["metas"]["default"].update(
        source_domain_address="documentation-resources.opendatasoft.com",
        source_dataset=item["dataset_id"],
        title="Cities of the world",  # no title rule: only the source link can link them
        references=None,
    )
    mirror = dataset_from_ods(mirror_item, "https://fedcat.example/d/mirror", "https://data.example.org")
    assert mirror.derived_from == [
        f"https://documentation-resources.opendatasoft.com/explore/dataset/{item['dataset_id']}/"
    ]
    assert item["dataset_id"] in mirror.other_identifier
    a, b = copy_of("a", "origin", origin), copy_of("b", "mirror", mirror)
    [found] = [c for c in cluster([a, b]) if len(c.members) == 2]
    assert {link.rule for link in found.links} == {"same-landing-page"}
    # without the source link, nothing links them
    plain = dataset_from_ods(
        {
            **mirror_item,
            "metas": {
                **mirror_item["metas"],
                "default": {**mirror_item["metas"]["default"], "source_dataset": None},
            },
        },
        "https://fedcat.example/d/mirror",
        "https://data.example.org",
    )
    assert len(cluster([a, copy_of("b", "mirror", plain)])) == 2
