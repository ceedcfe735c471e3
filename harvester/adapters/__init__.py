"""One adapter per source type, discovered from the modules of this package.

Adding a platform = adding a module here whose `Adapter` subclass sets `type`, plus its pure mapping in
`mappings/` (registered in `mappings/registry.py`, with its field map in `mappings/fieldmaps/`) and tests on
recorded shapes.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from ...config import SourceOptions
from .base import Adapter, Page, RawRecord


def _discover() -> dict[str, type[Adapter]]:
    found: dict[str, type[Adapter]] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name in ("base", "jsonapi"):
            continue
        importlib.import_module(f"{__name__}.{module.name}")
    for adapter in _subclasses(Adapter):
        if getattr(adapter, "type", None):
            found[adapter.type] = adapter
    return dict(sorted(found.items()))


def _subclasses(cls: type[Any]) -> list[type[Any]]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


ADAPTERS: dict[str, type[Adapter]] = _discover()


def source_options() -> dict[str, type[SourceOptions]]:
    """Each source type and the options it declares: what `fedcat.config` checks a source's `options`
    against (read at each call: an adapter registered later, as tests do, counts)."""
    return {name: adapter.Options for name, adapter in ADAPTERS.items()}


__all__ = ["ADAPTERS", "Adapter", "Page", "RawRecord", "source_options"]
