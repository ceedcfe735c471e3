"""MAPPING_VERSION: what today's mappings are, stored with each record mapped by them.

A record mapped by another version is re-mapped from its stored payload (`fedcat remap`, and by every
harvest of its source for the records it did not re-fetch), so that an improved alias or vocabulary
reaches records whose payload never changes. The version is the code's own number (bump MAPPING_CODE when
a mapping function's code changes what it makes of a payload) and a digest of the data files the mappings
read: the vocabulary tables, the field maps, the ISO topic categories and the predicate aliases. Editing a table is enough.
"""

from __future__ import annotations

import hashlib
from functools import cache

from . import vocabularies

# 2: the labels a source gives its own licence IRIs; 3: Opendatasoft source links; 4: stand-alone data services;
# 5: every DCAT-AP 3.0 dataset and distribution property (provenance, versions, series…), no empty structs;
# 6: schema.org: relative URLs read against the page; DCAT: values described by the page (a source's own IRIs);
# 7: plain-text titles, zero dates dropped, links given as paths resolved, CKAN access services, mixed-case
# extras and country groups, camelCase codes, lists written as text, sizes with units, unreadable values
# reported, CSW records keyed by their citation identifier; 8: values of another JSON type than expected cost
# that value, not the record (a lone contact dict is one contact, a non-text media type is reported)
MAPPING_CODE = 8


def _data_files() -> list:
    tables = vocabularies.TABLES
    return sorted(
        [
            *tables.glob("*.yaml"),
            *(tables / "fieldmaps").glob("*.yaml"),
            tables / "aliases" / "iso-topic-categories.yaml",
            tables / "aliases" / "predicates.yaml",
        ]
    )


@cache
def mapping_version() -> str:
    """`<code>.<digest of the data files>`, computed once a process (a few ms)."""
    digest = hashlib.blake2b(digest_size=6)
    for path in _data_files():
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{MAPPING_CODE}.{digest.hexdigest()}"
