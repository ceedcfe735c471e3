"""One pure mapping per source type: `mapping_for(type)(payload, uri, source, parsed=None) -> Dataset`.

`payload` is the raw record as the store keeps it, `uri` fedcat's URI for it, `source` what the mapping may
know of its source (`SourceContext`), `parsed` the adapter's already parsed form of the payload during a
harvest (None when re-mapping from the store). The dataset's `unmapped` holds what the source gave that the
mapping could not place: the run's report of unmapped values is their sum.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ckan, datajson, from_rdf, iso19139, opendatasoft, schemaorg, udata
from .context import SourceContext
from .finish import finish
from .model import Dataset

Mapping = Callable[[bytes, str, SourceContext, Any], Dataset]

MAPPINGS: dict[str, Mapping] = {
    "ckan": ckan.map_package,
    "csw": iso19139.map_record,
    "datajson": datajson.map_dataset,
    "dcat": from_rdf.map_record,
    "opendatasoft": opendatasoft.map_dataset,
    "udata": udata.map_dataset,
    "website": schemaorg.map_dataset,
}


def mapping_for(source_type: str) -> Mapping:
    """The mapping of a source type, followed by the rules every mapping shares (`finish`); KeyError names the
    known types."""
    try:
        mapping = MAPPINGS[source_type]
    except KeyError:
        raise KeyError(f"no mapping for source type {source_type!r} (known: {', '.join(MAPPINGS)})") from None

    def mapped(payload: bytes, uri: str, source: SourceContext, parsed: Any = None) -> Dataset:
        return finish(mapping(payload, uri, source, parsed))

    return mapped
