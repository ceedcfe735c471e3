"""What a mapping may know of the source a record came from: no HTTP client, no store, no adapter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SourceContext:
    id: str
    url: str
    # the source's `options` from sources.yaml; mappings read only their own (`language`, `record_url`)
    options: Mapping[str, Any] = field(default_factory=dict)
    # fedcat's URI of another record of the same source, from its source record id (data.json `isPartOf`);
    # None: such links keep the source's own identifier when it is an IRI
    record_uri: Callable[[str], str] | None = None

    @property
    def language(self) -> str | None:
        """The language a source's untagged texts are written in (option `language`)."""
        value = self.options.get("language")
        return value if isinstance(value, str) and value.strip() else None
