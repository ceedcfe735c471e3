"""One adapter per source type; `ADAPTERS` maps a sources.yaml `type` to its class."""

from .base import Adapter, Page, RawRecord
from .dcat import DcatAdapter

ADAPTERS: dict[str, type[Adapter]] = {adapter.type: adapter for adapter in (DcatAdapter,)}

__all__ = ["ADAPTERS", "Adapter", "Page", "RawRecord"]
