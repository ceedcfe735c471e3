"""Untrusted-input guards shared by the adapters: XML entity bombs and external entities, JSON depth."""

from __future__ import annotations

import re
from itertools import accumulate

from .http import HarvestError

_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(\[(?P<subset>.*?)\])?\s*>", re.DOTALL)
# a reference to another declared entity (predefined ones like &quot; and character references are harmless)
_CUSTOM_REFERENCE = re.compile(rb"&(?!(?:quot|amp|lt|gt|apos|#\d+|#x[0-9a-fA-F]+);)|%[\w.-]+;")
_ENTITY = re.compile(rb"<!ENTITY\s+%?\s*[\w.-]+\s+(?P<rest>[^>]*)>", re.DOTALL)


class UnsafeDocument(HarvestError):
    """A document fedcat refuses to parse (entity expansion, external entities, excessive nesting)."""


def check_xml(content: bytes, url: str = "") -> None:
    """Refuse XML whose DOCTYPE declares external entities or entities that expand other entities.

    Plain internal entities (RDF/XML uses them as namespace shorthands) stay allowed: they cannot grow
    a document beyond its own size times a small factor.
    """
    head = content[:65536]
    match = _DOCTYPE.search(head)
    if match is None:
        return
    subset = match["subset"] or b""
    if re.search(rb"\b(SYSTEM|PUBLIC)\b", match.group(0).split(b"[", 1)[0]):
        raise UnsafeDocument(f"{url}: XML with an external DTD refused")
    for entity in _ENTITY.finditer(subset):
        rest = entity["rest"]
        if re.search(rb"\b(SYSTEM|PUBLIC)\b", rest):
            raise UnsafeDocument(f"{url}: XML external entity refused (XXE)")
        if _CUSTOM_REFERENCE.search(rest):
            raise UnsafeDocument(f"{url}: XML entity that expands other entities refused (entity bomb)")


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def check_json_depth(content: bytes, max_depth: int = 64, url: str = "") -> None:
    """Refuse JSON nested deeper than `max_depth` before handing it to a recursive parser."""
    brackets = _JSON_STRING.sub(b"", content).translate(None, _NOT_BRACKET)
    if brackets and max(accumulate(map(_STEP.__getitem__, brackets))) > max_depth:
        raise UnsafeDocument(f"{url}: JSON nested deeper than {max_depth} levels refused")
