"""Validate fedcat's DCAT-AP output with SHACL (pyshacl): the official DCAT-AP 3.0 shapes when installed or
shipped, else fedcat's own core shapes. Validation never fetches anything.

The official shapes are SEMIC's files: `--shapes PATH` (files, or a directory holding them), else
`$FEDCAT_SHAPES_DIR`, else the copy `fedcat install-shapes` put in the data dir (from files the operator
has, or from a URL: SEMIC's release site by default, through fedcat's polite HTTP client). Two profiles:
- `dcat-ap-3.0.1` (default): the release's `html/shacl/shapes.ttl` (cardinalities, node kinds, datatypes) and
  `html/shacl/range.ttl` (classes of values). The release's consolidated `shacl/dcat-ap-SHACL.ttl` and
  `shacl/ranges.ttl` point at property shapes that neither file defines, which pyshacl refuses to load.
- `dcat-ap-3.0.0`: the consolidated `shacl/dcat-ap-SHACL.ttl` (also asks `rdfs:Resource` of URLs).
With none installed, `dcat-ap-3.0.0` uses SEMIC's 3.0.0 shapes shipped in `official/` (see its
PROVENANCE.md) and `dcat-ap-3.0.1` uses `dcat_ap_3_core.ttl`: shapes fedcat wrote from the specification's
mandatory and recommended properties (recommended ones as warnings). Every report names the shapes it used.

Each violation is put down to its cause:
- **source**: a mandatory property (`sh:minCount`) missing on what the source described (a dataset without
  a description, a distribution without any URL, a publisher given as a bare IRI without a name, a
  concept IRI nobody labels): the data was never there, fedcat cannot invent it;
- **fedcat**: everything else (a wrong class, datatype, node kind, a cardinality over the maximum) and any
  violation on the nodes fedcat makes itself (catalogues, catalogue records): normalisation could have
  avoided it. The writer (`mappings.rdf`) is held to zero of these over the harvested corpus.

The shapes check classes with `rdfs:subClassOf` from the DCAT vocabulary they import (a catalogue record's
`foaf:primaryTopic` must be a `dcat:Resource`, which a `dcat:Dataset` is); those few axioms are given to
pyshacl as the ontology graph.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyoxigraph
from pyoxigraph import BlankNode, Literal, NamedNode, RdfFormat

from ..mappings.namespaces import DCAT, PREFIXES, RDFS
from ..store import shacl as stored_shacl
from ..store.shacl import ShaclResult

PUBLISHER = "https://semiceu.github.io/DCAT-AP/releases/"
PROFILES: dict[str, tuple[str, ...]] = {
    "dcat-ap-3.0.1": ("3.0.1/html/shacl/shapes.ttl", "3.0.1/html/shacl/range.ttl"),
    "dcat-ap-3.0.0": ("3.0.0/shacl/dcat-ap-SHACL.ttl",),
}
DEFAULT_PROFILE = "dcat-ap-3.0.1"
SH = "http://www.w3.org/ns/shacl#"
# DCAT 3's class hierarchy, as far as the shapes rely on it (dcat.ttl, which the shapes import).
DCAT_AXIOMS = "".join(
    f"<{DCAT}{sub}> <{RDFS}subClassOf> <{DCAT}{sup}> .\n"
    for sub, sup in (
        ("Dataset", "Resource"),
        ("DataService", "Resource"),
        ("Catalog", "Dataset"),
        ("DatasetSeries", "Dataset"),
    )
)
OWN_NODES = ("#record", "#source-record", "#publisher")  # fragments of IRIs fedcat makes itself
# Where SEMIC's own files disagree, no output satisfies both: the consolidated 3.0.0 file wants locn:geometry
# to be a locn:Geometry node, the HTML shapes of 3.0.0 and 3.0.1 a literal. fedcat writes the literal
# (GeoDCAT-AP's encoding, and what every DCAT reader, fedcat's own included, expects); these results are
# reported under the cause "shapes".
CONFLICTS = {"dcat-ap-3.0.0": {("locn:geometry", "class"), ("locn:geometry", "nodeKind")}}


# SEMIC's own shapes shipped with fedcat, where a package registry carries them (official/PROVENANCE.md)
SHIPPED: dict[str, list[Path]] = {
    "dcat-ap-3.0.0": [Path(__file__).with_name("official") / "dcat-ap-3.0.0-SHACL.jsonld"],
}
CORE_SHAPES = Path(__file__).with_name("dcat_ap_3_core.ttl")
CORE_LABEL = "fedcat's DCAT-AP 3.0 core shapes"
# what a public request is told when the shapes the operator configured cannot be read (never an
# exception's text: it could quote paths)
NOT_READABLE = (
    "the DCAT-AP shapes configured on this server (FEDCAT_SHAPES_DIR) cannot be read; its operator installs "
    "them with `fedcat install-shapes`"
)


class ShapesError(Exception):
    """The shapes could not be found, fetched or read."""


# --- the shapes -----------------------------------------------------------------------------------------


def shape_files(profile: str, paths: Iterable[Path | str] = ()) -> list[Path]:
    """The profile's files among `paths` (files, or directories searched for files named like the
    publisher's, e.g. `shapes.ttl` or a copy renamed `html_shacl_shapes.ttl`)."""
    names = [remote.rsplit("/", 1)[1] for remote in _profile(profile)]
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            for name in names:
                matches = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(name))
                # "shapes.ttl" must not pick "shapes_recommended.ttl" or "mdr-vocabularies.shape.ttl"
                exact = [p for p in matches if p.name == name or p.name.endswith("_" + name)]
                if not exact:
                    raise ShapesError(f"{path}: no {name} for {profile} (expected a file named *{name})")
                found.append(exact[0])
        else:
            raise ShapesError(f"{path}: no such file or directory")
    return found


def _profile(profile: str) -> tuple[str, ...]:
    if profile not in PROFILES:
        raise ShapesError(f"unknown shapes profile {profile!r} (known: {', '.join(PROFILES)})")
    return PROFILES[profile]


def cached_shapes(
    profile: str,
    cache_dir: Path,
    *,
    publisher: str | None = None,
    fetch: Callable[[str], bytes] | None = None,
) -> list[Path]:
    """The profile's files in `cache_dir/<profile>/`, fetched from the publisher if missing (only
    `fedcat install-shapes` calls this: validation never fetches).

    `publisher` replaces the SEMIC base URL (tests serve the corpus copies on 127.0.0.1); `fetch` replaces
    the HTTP GET. Each file is checked to parse as Turtle before it is kept, and written atomically.
    """
    base = (publisher or os.environ.get("FEDCAT_SHAPES_PUBLISHER") or PUBLISHER).rstrip("/") + "/"
    folder = cache_dir / profile
    files = []
    for remote in _profile(profile):
        target = folder / remote.rsplit("/", 1)[1]
        if not target.is_file():
            url = base + remote
            body = (fetch or _fetcher(base))(url)
            try:
                for _ in pyoxigraph.parse(body, RdfFormat.TURTLE, base_iri=url):
                    pass
            except (SyntaxError, ValueError) as exc:
                raise ShapesError(f"{url} is not Turtle ({exc}); nothing was cached") from exc
            folder.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            partial.write_bytes(body)
            partial.replace(target)
            (folder / "SOURCE").write_text(f"fetched from {base} for {profile}\n", encoding="utf-8")
        files.append(target)
    return files


def _fetcher(base: str) -> Callable[[str], bytes]:
    from urllib.parse import urlsplit

    from ..harvester.http import HarvestError, HttpClient, HttpSettings, LinkPolicy

    host = urlsplit(base).hostname or ""

    def fetch(url: str) -> bytes:
        client = HttpClient(
            policy=LinkPolicy(url, frozenset({host})),
            settings=HttpSettings(read_timeout=60.0, max_bytes=20 * 1024 * 1024, retries=2, run_budget=300.0),
        )
        try:
            return client.get(url, accept="text/turtle").content
        except HarvestError as exc:  # the fetch failed, or a redirect left the publisher's host
            raise ShapesError(
                f"could not fetch the DCAT-AP shapes: {exc}. Download them from {base} and pass --shapes DIR"
            ) from exc
        finally:
            client.close()

    return fetch


@dataclass(frozen=True)
class ShapeChoice:
    files: list[Path]
    label: str  # what reports say they were checked against


def resolve_shapes(
    profile: str = DEFAULT_PROFILE, paths: Iterable[Path | str] = (), data_dir: Path | None = None
) -> ShapeChoice:
    """`--shapes` when given, else `$FEDCAT_SHAPES_DIR`, else the official shapes installed in the data dir,
    else the official shapes shipped with fedcat (`SHIPPED`: DCAT-AP 3.0.0), else fedcat's core shapes.
    Never fetches: `install_shapes` does, when the operator asks."""
    paths = list(paths)
    if not paths and os.environ.get("FEDCAT_SHAPES_DIR"):
        paths = [os.environ["FEDCAT_SHAPES_DIR"]]
    if paths:
        return ShapeChoice(shape_files(profile, paths), f"official shapes {profile}")
    if data_dir is not None:
        folder = data_dir / "shapes" / profile
        installed = [folder / remote.rsplit("/", 1)[1] for remote in _profile(profile)]
        if all(f.is_file() for f in installed):
            return ShapeChoice(installed, f"official shapes {profile} (installed)")
    _profile(profile)  # an unknown profile is an error even without official shapes
    if profile in SHIPPED:
        return ShapeChoice(SHIPPED[profile], f"official shapes {profile} (shipped with fedcat)")
    return ShapeChoice([CORE_SHAPES], CORE_LABEL)


def install_shapes(profile: str, data_dir: Path, sources: Iterable[str] = ()) -> list[Path]:
    """Install the profile's official shapes in the data dir from `sources`: files or directories (as
    `--shapes` takes them), or one URL under which the profile's files lie as on SEMIC's release site
    (default: `$FEDCAT_SHAPES_PUBLISHER`, else SEMIC's). Each file must parse as Turtle; the installed copy
    is replaced only once every file is read."""
    import shutil
    import tempfile

    sources = list(sources)
    urls = [s for s in sources if s.startswith(("http://", "https://"))]
    if urls and (len(urls) > 1 or len(sources) > 1):
        raise ShapesError("give one URL, or files and directories, not both")
    target = data_dir / "shapes" / profile
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".shapes-") as work:
        staging = Path(work)
        if sources and not urls:
            (staging / profile).mkdir()
            for path, remote in zip(shape_files(profile, sources), _profile(profile), strict=False):
                name = remote.rsplit("/", 1)[1]
                body = path.read_bytes()
                try:
                    for _ in pyoxigraph.parse(body, RdfFormat.TURTLE, base_iri=path.resolve().as_uri()):
                        pass
                except (SyntaxError, ValueError) as exc:
                    raise ShapesError(f"{path} is not Turtle ({exc}); nothing was installed") from exc
                (staging / profile / name).write_bytes(body)
            origin = "copied from " + ", ".join(str(Path(s).resolve()) for s in sources)
            (staging / profile / "SOURCE").write_text(f"{origin} for {profile}\n", encoding="utf-8")
        else:
            cached_shapes(profile, staging, publisher=urls[0] if urls else None)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        (staging / profile).replace(target)
    return resolve_shapes(profile, data_dir=data_dir).files


@dataclass(frozen=True)
class Shapes:
    """A loaded shapes graph and what the report needs of it (node shape and class of each property shape)."""

    files: tuple[str, ...]
    graph: Any  # rdflib.Graph
    owners: dict[str, str]  # property shape -> the class its node shape targets, as a CURIE
    label: str = ""  # what reports say they were checked against (ShapeChoice.label)


def load_shapes(files: Iterable[Path], label: str = "") -> Shapes:
    return _load(tuple(str(Path(f).resolve()) for f in files), label)


@lru_cache(maxsize=4)  # parsing the shapes takes ~1 s: once per process and set of files
def _load(files: tuple[str, ...], label: str) -> Shapes:
    import rdflib

    graph = rdflib.Graph()
    for name in files:
        graph.parse(name, format="json-ld" if name.endswith(".jsonld") else "turtle")
    owners: dict[str, str] = {}
    for node_shape, prop_shape in graph.subject_objects(rdflib.URIRef(SH + "property")):
        target = graph.value(node_shape, rdflib.URIRef(SH + "targetClass"))
        owners[str(prop_shape)] = curie(str(target)) if target is not None else curie(str(node_shape))
    return Shapes(files, graph, owners, label)


# --- validation -------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def curie(iri: str) -> str:
    for prefix, namespace in PREFIXES.items():
        if iri.startswith(namespace) and len(iri) > len(namespace):
            return f"{prefix}:{iri[len(namespace) :]}"
    return iri.rsplit("#", 1)[-1] if "#" in iri and iri.startswith("https://semiceu") else iri


@dataclass
class Finding:
    """One validation result."""

    focus: str
    path: str | None
    component: str  # "minCount", "class", "datatype"…
    value: str | None
    message: str
    severity: str  # "Violation", "Warning", "Info"
    rule: str  # "<class of the focus node> <path>: <component>", e.g. "dcat:Distribution dcat:accessURL: minCount"
    cause: str  # "source", "fedcat" or "shapes" (see the module docstring and CONFLICTS); "" for warnings
    datasets: list[str] = field(default_factory=list)


@dataclass
class Report:
    profile: str
    datasets: int = 0
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # the dataset ids of the last batch (see validate_store)
    shapes: str = ""  # the shapes used (Shapes.label)

    def violations(self, cause: str | None = None) -> list[Finding]:
        return [f for f in self.findings if f.severity == "Violation" and (cause is None or f.cause == cause)]

    @property
    def conforms(self) -> bool:
        return not self.violations()

    def by_rule(self) -> dict[str, tuple[int, int, str]]:
        """rule -> (violations, datasets affected, cause), most frequent first."""
        counts: Counter[str] = Counter()
        datasets: dict[str, set[str]] = {}
        causes: dict[str, str] = {}
        for f in self.violations():
            counts[f.rule] += 1
            datasets.setdefault(f.rule, set()).update(f.datasets)
            causes[f.rule] = f.cause
        return {rule: (n, len(datasets[rule]), causes[rule]) for rule, n in counts.most_common()}

    def by_dataset(self) -> dict[str, list[Finding]]:
        found: dict[str, list[Finding]] = {}
        for f in self.violations():
            for dataset in f.datasets or ["(catalogue)"]:
                found.setdefault(dataset, []).append(f)
        return found

    def worst(self, top: int) -> list[tuple[str, list[Finding]]]:
        """The `top` datasets with most violations (ties by id)."""
        ranked = sorted(self.by_dataset().items(), key=lambda item: (-len(item[1]), item[0]))
        return ranked[: max(top, 0)]

    def merge(self, other: Report) -> None:
        self.datasets += other.datasets
        self.findings.extend(other.findings)

    def summary(self) -> dict[str, Any]:
        by_dataset = self.by_dataset()
        return {
            "profile": self.profile,
            "shapes": self.shapes,
            "datasets": self.datasets,
            "conforms": self.conforms,
            "violations": {
                "fedcat": len(self.violations("fedcat")),
                "source": len(self.violations("source")),
                "shapes": len(self.violations("shapes")),
            },
            "datasets_with_violations": len([d for d in by_dataset if d != "(catalogue)"]),
            "warnings": len([f for f in self.findings if f.severity != "Violation"]),
            "rules": [
                {"rule": rule, "violations": n, "datasets": d, "cause": cause}
                for rule, (n, d, cause) in self.by_rule().items()
            ],
        }


def _rdflib_graph(ntriples: str | bytes) -> Any:
    """An rdflib graph of N-Triples text, keeping blank-node labels (rdflib's own parser renames them,
    which would lose which record a blank node belongs to)."""
    import rdflib

    graph = rdflib.Graph()
    add = graph.add
    terms: dict[Any, Any] = {}

    def term(node: Any) -> Any:
        found = terms.get(node)
        if found is None:
            if isinstance(node, NamedNode):
                found = rdflib.URIRef(node.value)
            elif isinstance(node, BlankNode):
                found = rdflib.BNode(node.value)
            elif isinstance(node, Literal):
                if node.language:
                    found = rdflib.Literal(node.value, lang=node.language)
                else:
                    found = rdflib.Literal(node.value, datatype=rdflib.URIRef(node.datatype.value))
            terms[node] = found
        return found

    for t in pyoxigraph.parse(ntriples, RdfFormat.N_TRIPLES):
        add((term(t.subject), term(t.predicate), term(t.object)))
    return graph


def _n3(node: Any) -> str:
    import rdflib

    if isinstance(node, rdflib.BNode):
        return f"_:{node}"
    if isinstance(node, rdflib.URIRef):
        return f"<{node}>"
    return str(node)


def validate(
    ntriples: str | bytes,
    shapes: Shapes,
    profile: str = DEFAULT_PROFILE,
    owners: dict[str, list[str]] | None = None,
) -> Report:
    """Validate N-Triples text; `owners` maps N-Triples subjects to the dataset ids they describe."""
    import pyshacl
    import rdflib

    data = _rdflib_graph(ntriples)
    ontology = rdflib.Graph().parse(data=DCAT_AXIOMS, format="nt")
    _conforms, results, _text = pyshacl.validate(
        data,
        shacl_graph=shapes.graph,
        ont_graph=ontology,
        inference="none",
        allow_warnings=True,
        allow_infos=True,
        advanced=False,
    )
    sh = rdflib.Namespace(SH)
    report = Report(profile, shapes=shapes.label)
    owners = owners or {}
    for result in results.subjects(rdflib.RDF.type, sh.ValidationResult):

        def get(prop: str, result: Any = result) -> Any:
            return results.value(result, sh[prop])

        focus, path, value = get("focusNode"), get("resultPath"), get("value")
        component = (
            str(get("sourceConstraintComponent")).rsplit("#", 1)[-1].removesuffix("ConstraintComponent")
        )
        component = component[:1].lower() + component[1:]
        severity = str(get("resultSeverity")).rsplit("#", 1)[-1]
        shape = str(get("sourceShape"))
        path_name = curie(str(path)) if isinstance(path, rdflib.URIRef) else (str(path) if path else "")
        focus_key = _n3(focus)
        rule = f"{shapes.owners.get(shape, '?')} {path_name}: {component}".replace("  ", " ")
        own = any(focus_key.endswith(fragment + ">") for fragment in OWN_NODES) or "/sources/" in focus_key
        if severity != "Violation":
            cause = ""
        elif (path_name, component) in CONFLICTS.get(profile, ()):
            cause = "shapes"
        elif component == "minCount" and not own and not focus_key.endswith("/catalog>"):
            cause = "source"
        else:
            cause = "fedcat"
        report.findings.append(
            Finding(
                focus=focus_key,
                path=path_name or None,
                component=component,
                value=_n3(value) if value is not None else None,
                message=str(get("resultMessage") or ""),
                severity=severity,
                rule=rule,
                cause=cause,
                datasets=sorted(owners.get(focus_key, ())),
            )
        )
    return report


def subjects_of(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        yield line[: line.index(" ")]


def record_document(info: Any, row: Any) -> tuple[list[str], dict[str, list[str]]]:
    """A record's N-Triples lines (as the export writes them) and which dataset each subject belongs to."""
    from ..mappings.catalog_rdf import write_record
    from ..mappings.rdf import Writer

    w = Writer(row.dataset.uri)
    write_record(w, info, row)
    catalogues = {f"<{info.iri}>", f"<{info.source_iri(row.source_id)}>"}
    owners: dict[str, list[str]] = {}
    if row.origin is not None:  # the canonical copy it links to is the canonical record's
        owners[f"<{row.origin.uri}>"] = [row.origin.id]
    for subject in subjects_of(w.lines):
        if subject not in catalogues:
            owners.setdefault(subject, [row.id])
    return w.lines, owners


def validate_rows(rows: Iterable[Any], info: Any, shapes: Shapes, profile: str, *, catalog: bool) -> Report:
    """Validate records' documents together (one pyshacl run), with the catalogues' own description."""
    from ..mappings.catalog_rdf import write_catalog
    from ..mappings.rdf import Writer

    lines: list[str] = []
    owners: dict[str, list[str]] = {}
    count = 0
    rows_seen = list(rows)
    if catalog:
        header = Writer(info.iri)
        write_catalog(header, info)
        lines.extend(header.lines)
    for row in rows_seen:
        record_lines, record_owners = record_document(info, row)
        lines.extend(record_lines)
        for subject, ids in record_owners.items():
            owners.setdefault(subject, []).extend(i for i in ids if i not in owners.get(subject, ()))
        count += 1
    report = validate("".join(lines).encode("utf-8", "replace"), shapes, profile, owners)
    report.datasets = count
    report.checked = [row.id for row in rows_seen]
    return report


def validate_store(
    db_path: Path | str,
    info: Any,
    shapes: Shapes,
    profile: str = DEFAULT_PROFILE,
    *,
    batch: int = 2000,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_batch: Callable[[Report], object] | None = None,
) -> Report:
    """Validate every live record of a store, `batch` records per pyshacl run (pyshacl holds its graphs
    in memory: ~2,000 records is ~150,000 triples), with the catalogues' description in the first run.
    `on_batch` gets each batch's report (with the ids it checked) before it is merged into the whole."""
    from ..store.catalog import CatalogReader, iter_rows

    report = Report(profile, shapes=shapes.label)
    db = CatalogReader(db_path)
    try:
        pending: list[Any] = []
        first = True
        for rows in iter_rows(db, batch):
            for row in rows:
                if limit is not None and report.datasets + len(pending) >= limit:
                    break
                pending.append(row)
            if len(pending) >= batch or (limit is not None and report.datasets + len(pending) >= limit):
                part = validate_rows(pending, info, shapes, profile, catalog=first)
                if on_batch:
                    on_batch(part)
                report.merge(part)
                first = False
                if progress:
                    progress(len(pending))
                pending = []
            if limit is not None and report.datasets >= limit:
                break
        if pending or first:
            part = validate_rows(pending, info, shapes, profile, catalog=first)
            if on_batch:
                on_batch(part)
            report.merge(part)
            if progress and pending:
                progress(len(pending))
    finally:
        db.close()
    return report


def report_json(report: Report) -> bytes:
    """The whole report: the summary, then every violation under each dataset it concerns."""
    import json

    datasets = {
        dataset: [
            {"rule": f.rule, "cause": f.cause, "focus": f.focus, "value": f.value, "message": f.message}
            for f in findings
        ]
        for dataset, findings in sorted(report.by_dataset().items())
    }
    return json.dumps({**report.summary(), "by_dataset": datasets}, ensure_ascii=False, indent=1).encode()


def report_tables(report: Report, files: Iterable[Path], titles: dict[str, str], top: int = 20) -> Any:
    """The report for a terminal (rich): a summary, violations per rule, the datasets with most."""
    from rich.console import Group
    from rich.table import Table

    summary = report.summary()
    counts = summary["violations"]
    lines = [
        f"{report.datasets} datasets checked against {report.shapes or report.profile}"
        f" ({', '.join(Path(f).name for f in files)}).",
        f"Violations caused by fedcat's serialisation: {counts['fedcat']}.",
        f"Violations of data missing at the source: {counts['source']}, "
        f"in {summary['datasets_with_violations']} datasets.",
    ]
    if counts["shapes"]:
        lines.append(f"Results where the official shape files contradict each other: {counts['shapes']}.")
    if not report.by_rule():
        return Group(*lines, f"All {report.datasets} datasets conform.")  # no empty tables to read
    rules = Table(title="Violations per rule")
    for column in ("rule", "cause", "violations", "datasets"):
        rules.add_column(column, overflow="fold")
    for rule, (n, datasets, cause) in report.by_rule().items():
        rules.add_row(rule, cause, str(n), str(datasets))
    worst = Table(title=f"Datasets with violations (the {top} with most)")
    for column in ("dataset", "title", "violations", "rules"):
        worst.add_column(column, overflow="fold")
    for dataset, findings in report.worst(top):
        rules_hit = Counter(f.rule for f in findings)
        worst.add_row(
            dataset,
            titles.get(dataset, "")[:80],
            str(len(findings)),
            "; ".join(f"{rule} ×{n}" if n > 1 else rule for rule, n in rules_hit.most_common()),
        )
    return Group(*lines, rules, worst)


# --- stored results (for the quality score's DCAT-AP compliance indicator) --------------------------------


def save_results(store: Any, part: Report, as_of: int) -> int:
    """Store each checked dataset's result; `as_of` is the change feed's head before the records were read
    (`store.feed.head`): a record changed since loses its result. Returns how many."""
    per_dataset: dict[str, Counter[str]] = {i: Counter() for i in part.checked}
    for finding in part.violations():
        for dataset in finding.datasets:
            if dataset in per_dataset:
                per_dataset[dataset][finding.cause] += 1
    results = [
        ShaclResult(i, part.profile, not sum(c.values()), c["source"], c["fedcat"])
        for i, c in per_dataset.items()
    ]
    return stored_shacl.save(store, results, as_of)


def stored_conformance(store: Any, ids: Iterable[str]) -> dict[str, bool]:
    """id -> whether its last validation found no violation, for records not changed since."""
    return stored_shacl.conformance(store, ids)
