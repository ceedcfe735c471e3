"""The configuration as the harvester knows it: `fedcat.config` with the adapters' source types and options.

`fedcat.config` sits below the harvester and knows no adapter; this module binds the two, so that every
caller (the CLI, the catalogue, tests) loads a file with one call and gets every type's options checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import config
from ..config import Config, ConfigError, Jurisdiction, Settings, Source
from .adapters import source_options

__all__ = ["Config", "ConfigError", "Jurisdiction", "Settings", "Source", "load_config", "parse_config"]


def load_config(path: Path | str) -> Config:
    """Read and validate a sources file; raise ConfigError listing every problem."""
    return config.load_config(path, source_options())


def parse_config(data: Any, path: Path | str = "<config>") -> Config:
    """Validate a configuration already read (a mapping, as from YAML); raise ConfigError."""
    return config.parse_config(data, source_options(), path)
