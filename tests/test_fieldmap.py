"""The field-map engine: paths, fallbacks and kinds, on a record shaped like a udata dataset."""

from __future__ import annotations

import itertools

from fedcat.mappings.fieldmap import FieldMap, compile_path, extract, extractor
from fedcat.mappings.model import Text
from fedcat.mappings.values import ValueMapper

RECORD = {
    "title": "Vélos en libre-service",
    "tags": ["velo", "mobilite", ""],
    "resources": [
        {"url": "https://x.example/a.csv", "format": "csv", "filesize": "1024"},
        {"url": "not a url"},
    ],
    "organization": {"name": "Ville de Lille", "id": None},
    "license": "lov2",
    "frequency": "weird-every-blue-moon",
    "last_update": "2020-01-02T10:00:00+02",
}
MAP = FieldMap(
    "test",
    {
        "language": "fr",
        "dataset": {
            "title": {"from": "title", "as": "text"},
            "keywords": {"from": "tags[*]", "as": "texts"},
            "licence": {"from": "license", "as": "licence"},
            "modified": {"from": ["last_modified", "last_update"], "as": "date"},
            "accrual_periodicity": {"from": "frequency", "as": "frequency"},
            "landing_page": {"from": "resources[*].url", "as": "uris"},
            "version": {"from": "organization.id", "as": "string"},
        },
    },
)


def test_paths_flatten_lists_and_skip_missing():
    assert extract(RECORD, "resources[*].url") == ["https://x.example/a.csv", "not a url"]
    assert extract(RECORD, "organization.name") == ["Ville de Lille"]
    assert extract(RECORD, "tags[*]") == ["velo", "mobilite"]
    assert extract(RECORD, "organization.id") == []
    assert extract(RECORD, "title.deeper") == []


# every shape a value may take at a path's step: what the specialised readers must answer as `extract` does
SHAPES = [
    None,
    "",
    "x",
    " ",
    0,
    1.5,
    False,
    True,
    [],
    {},
    ["a", None, "", "b"],
    [None],
    [[]],
    [{}],
    {"k": "v"},
]


def test_specialised_readers_answer_as_the_general_walk():
    paths = ["k", "k[*]", "k.j", "k[*].j", "k.j[*]", "k.j.i"]
    objects = [*SHAPES, *({"k": v} for v in SHAPES), *({"k": {"j": v}} for v in SHAPES)]
    objects += [{"k": [{"j": v}, {"j": w}]} for v, w in itertools.product(SHAPES, repeat=2)]
    objects += [{"k": {"j": {"i": v}}} for v in SHAPES]
    for path, obj in itertools.product(paths, objects):
        assert extractor(compile_path(path))(obj) == extract(obj, path), (path, obj)


def test_apply_reads_kinds_fallbacks_and_keeps_unmapped_values():
    values = ValueMapper()
    fields = MAP.apply("dataset", RECORD, values)
    assert fields["title"] == [Text("Vélos en libre-service", "fr")]
    assert [k.value for k in fields["keywords"]] == ["velo", "mobilite"]
    assert fields["licence"].endswith("/licence/ETALAB_2_0")
    assert fields["modified"] == "2020-01-02T10:00:00+02:00"  # from the fallback path
    assert fields["landing_page"] == ["https://x.example/a.csv"]  # "not a url" is not an IRI
    assert "accrual_periodicity" not in fields and "version" not in fields
    # what the record says and the map cannot read is reported: the frequency, the link that is not one
    assert values.unmapped == {"frequency": ["weird-every-blue-moon"], "landing_page": ["not a url"]}
