"""Untrusted-input guards shared by the adapters: XML entity bombs and external entities, JSON depth."""

from __future__ import annotations

import pyexpat
import re
from itertools import accumulate
from typing import Any, NoReturn

from .http import HarvestError

MAX_XML_DEPTH = 256  # elements within elements; catalogue records nest ~30 deep (ISO 19139 in CSW)
MAX_ENTITY_VALUE = 1024  # bytes of one internal entity (RDF/XML uses them as namespace shorthands)
# a reference to another entity inside an entity's value (the predefined ones and character references are
# harmless); markup in a value is refused too
_NESTING = re.compile(r"&(?!(?:quot|amp|lt|gt|apos|#\d+|#x[0-9a-fA-F]+);)|%|<")


class UnsafeDocument(HarvestError):
    """A document fedcat refuses to parse (entity expansion, external entities, excessive nesting)."""


def check_xml(content: bytes, url: str = "", max_depth: int = MAX_XML_DEPTH, what: str = "XML") -> None:
    """The one gate every XML document passes before any parser builds anything from it.

    Reads the whole document with expat (in C, streaming, nothing kept), so a DOCTYPE is found wherever it
    is and declarations are read as XML reads them (a `>` inside a quoted value included). Refused: an
    external DTD or entity (XXE), parameter entities, an entity whose value refers to another entity or
    holds markup (the entity bombs), entities that would add more than the document's own size again, and
    elements nested deeper than `max_depth` (recursive parsers). Plain internal entities stay allowed.
    A document that is not well-formed XML is refused too: no parser should be given it.
    """
    parser = pyexpat.ParserCreate()
    parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
    entities: dict[str, int] = {}
    depth = 0
    budget_checked = False

    def refuse(reason: str) -> NoReturn:
        raise UnsafeDocument(f"{url}: {reason}")

    def doctype(name: str, system_id: str | None, public_id: str | None, internal: int) -> None:
        if system_id or public_id:
            refuse("XML with an external DTD refused")

    def entity(name: str, parameter: int, value: str | None, base, system_id, public_id, notation) -> None:
        if value is None or system_id or public_id or notation:
            refuse("XML external entity refused (XXE)")
        if parameter:
            refuse("XML parameter entity refused")
        if _NESTING.search(value):
            refuse("XML entity that expands other entities or holds markup refused (entity bomb)")
        if len(value) > MAX_ENTITY_VALUE:
            refuse(f"XML entity longer than {MAX_ENTITY_VALUE} characters refused")
        entities[name] = len(value.encode("utf-8"))

    def start(name: str, attributes: Any) -> None:
        nonlocal depth, budget_checked
        depth += 1
        if depth > max_depth:
            refuse(f"XML nested deeper than {max_depth} elements refused")
        if not budget_checked:  # at the root: every declaration is known, no reference expanded yet
            budget_checked = True
            added = sum(content.count(b"&%s;" % n.encode()) * size for n, size in entities.items())
            if added > len(content) + 65536:
                refuse(f"XML entities expanding to {added:,} bytes refused (entity bomb)")

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    def external(*_: Any) -> int:
        refuse("XML external entity refused (XXE)")
        return 0

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.ExternalEntityRefHandler = external
    try:
        parser.Parse(content, True)
    except pyexpat.ExpatError as exc:
        raise HarvestError(f"{url}: not valid {what} (not well-formed XML: {exc})") from exc


# Nesting is measured before parsing, over the brackets outside strings (and, in Turtle, IRIs and comments).
# The patterns use possessive quantifiers: the regex engine keeps no backtracking state per character (the
# first JSON pattern, `(?:[^"\\]|\\.)*`, cost ~115 bytes a character: a 10 MB string needed 1.1 GB). One
# pass of the skip pattern over the whole document leaves what lies outside those tokens, whose brackets
# are then counted: ~13 µs a dataset of a generated DCAT-AP page. That pass holds the pieces it keeps
# (~6 times the document: a 2 MB page took 12 MB, a 63 MB one would take ~380 MB), so a document over
# `ONE_PASS_UP_TO` is read in windows of whole pieces (skipped tokens and what lies between them), each
# checked so: at most one window is held besides the document, for ~24 µs a dataset (two scans).
ONE_PASS_UP_TO = 4 * 1024 * 1024  # bytes
_JSON_SKIP = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_TURTLE_SKIP = (
    rb'"""(?:[^"\\]++|\\.|"(?!""))*+"""'
    rb"|'''(?:[^'\\]++|\\.|'(?!''))*+'''"
    rb'|"[^"\\\n\r]*+(?:\\.[^"\\\n\r]*+)*+"'
    rb"|'[^'\\\n\r]*+(?:\\.[^'\\\n\r]*+)*+'"
    rb"|<[^>\s]*+>"
    rb"|#[^\n\r]*+"
)
MAX_TURTLE_DEPTH = 64  # blank nodes and collections within each other


class _Nesting:
    def __init__(self, skip: bytes, specials: bytes, brackets: bytes) -> None:
        self.skip = re.compile(skip)
        # up to 4,096 whole pieces (a token, or up to 64 KB of bytes that start none), or one special byte
        # that starts no token (an unterminated string): a window never ends inside a token
        self.window = re.compile(
            rb"(?:" + skip + rb"|[^" + specials + rb"]{1,65536}){1,4096}+|[" + specials + rb"]"
        )
        self.others = bytes(b for b in range(256) if b not in brackets)
        self.opens = brackets[: len(brackets) // 2]
        self.step = {b: 1 for b in self.opens} | {b: -1 for b in brackets[len(brackets) // 2 :]}

    def deeper_than(self, content: bytes, max_depth: int) -> bool:
        large = len(content) > ONE_PASS_UP_TO
        windows = (w[0] for w in self.window.finditer(content)) if large else (content,)
        depth = 0
        for window in windows:
            brackets = self.skip.sub(b"", window).translate(None, self.others)
            if not brackets:
                continue
            if max(accumulate(map(self.step.__getitem__, brackets), initial=depth)) > max_depth:
                return True
            depth += 2 * sum(brackets.count(bytes([b])) for b in self.opens) - len(brackets)
        return False


_JSON = _Nesting(_JSON_SKIP, b'"', b"[{]}")
_TURTLE = _Nesting(_TURTLE_SKIP, b"\"'<#", b"[(])")


def check_json_depth(content: bytes, max_depth: int = 64, url: str = "") -> None:
    """Refuse JSON nested deeper than `max_depth` before handing it to a recursive parser."""
    if _JSON.deeper_than(content, max_depth):
        raise UnsafeDocument(f"{url}: JSON nested deeper than {max_depth} levels refused")


def check_turtle_depth(content: bytes, max_depth: int = MAX_TURTLE_DEPTH, url: str = "") -> None:
    """Refuse Turtle (TriG, N3) whose blank nodes and collections nest deeper than `max_depth`."""
    if _TURTLE.deeper_than(content, max_depth):
        raise UnsafeDocument(f"{url}: Turtle nested deeper than {max_depth} blank nodes or lists refused")


class RecordTooLarge(HarvestError):
    """One record over the size caps (settings.max_record_bytes, settings.max_literal_chars)."""


def check_literals(dataset: Any, max_chars: int) -> None:
    """Refuse a dataset with any text longer than `max_chars` (a 300 MB description made every later search
    answer, document and export of its source cost gigabytes)."""
    import msgspec

    pending = [msgspec.to_builtins(dataset)]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if len(value) > max_chars:
                raise RecordTooLarge(
                    f"a text of {len(value):,} characters, over the {max_chars:,} cap (settings.max_literal_chars)"
                )
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
