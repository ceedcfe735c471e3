"""Load and validate `sources.yaml`: the federation (one entry per source) and fedcat's own settings.

A bad file yields one clear message per problem (which source, which key, what was expected); callers print
them and exit, never a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

JURISDICTION_LEVELS = ("commune", "epci", "departement", "region", "country", "eu", "other")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SOURCE_KEYS = {
    "id",
    "name",
    "type",
    "url",
    "jurisdiction",
    "schedule",
    "options",
    "allowed_hosts",
    "enabled",
}
_SETTINGS_KEYS = {
    "base_url",
    "contact",
    "max_withdraw_share",
    "page_size",
    "http",
    "admin_token",
    "max_concurrency",
    "max_per_host",
    "respect_robots",
    "log_format",
    "shutdown_grace",
    "catalogue",
    "bodies",
    "federation",
}
CATALOGUE_KEYS = ("title", "description", "publisher")  # what fedcat's own dcat:Catalog says of itself
LOG_FORMATS = ("text", "json")
_HTTP_KEYS = {"connect_timeout", "read_timeout", "max_bytes", "retries", "backoff", "run_budget"}


class ConfigError(Exception):
    """The configuration has problems; `problems` lists each one as a sentence."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path, self.problems = path, problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass(frozen=True)
class Jurisdiction:
    level: str
    code: str
    name: str | None = None

    @property
    def key(self) -> str:
        """The facet value, e.g. "commune:59350"."""
        return f"{self.level}:{self.code}"


@dataclass(frozen=True)
class Source:
    id: str
    name: str
    type: str
    url: str
    jurisdiction: Jurisdiction | None = None
    schedule: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    allowed_hosts: tuple[str, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class Settings:
    base_url: str = "http://127.0.0.1:8000"
    contact: str | None = None  # put in the User-Agent so portal operators can reach the harvester's owner
    max_withdraw_share: float = 0.5
    page_size: int = 1000
    http: dict[str, float] = field(default_factory=dict)
    admin_token: str | None = None
    max_concurrency: int = 16  # runs (and requests) in flight at once, all sources together
    max_per_host: int = 2  # runs (and requests) in flight at once to any one host
    respect_robots: bool = False  # obey robots.txt (a source can also ask with options.respect_robots)
    log_format: str = "text"  # or "json": one JSON object per line (FEDCAT_LOG_FORMAT overrides)
    shutdown_grace: float = 30.0  # seconds `fedcat run` waits on SIGTERM for runs to end a page cleanly
    catalogue: dict[str, str] = field(default_factory=dict)  # CATALOGUE_KEYS -> text (else from base_url)
    bodies: tuple[
        Path, ...
    ] = ()  # registry files of public bodies for `fedcat audit` (relative: to the config)
    # settings.federation: the file of forced merges and splits of duplicate clusters (relative: to the
    # config) and the confidence a link needs (default: federation/rules.yaml's)
    federation_overrides: Path | None = None
    federation_threshold: float | None = None


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings
    sources: tuple[Source, ...]

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        known = ", ".join(s.id for s in self.sources)
        raise KeyError(f"no source {source_id!r} in {self.path} (known: {known})")


def load_config(path: Path | str) -> Config:
    """Read and validate a sources file; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}"]) from exc
    return parse_config(data, path)


def parse_config(data: Any, path: Path | str = "<config>") -> Config:
    problems: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise ConfigError(path, ["expected a mapping with a top-level `sources:` list"])
    for key in sorted(set(data) - {"sources", "settings"}):
        problems.append(f"unknown top-level key `{key}` (expected `sources` and optional `settings`)")
    settings = _settings(data.get("settings") or {}, problems, Path(path).parent)
    sources, seen = [], set()
    for index, entry in enumerate(data["sources"]):
        source = _source(entry, index, problems)
        if source is None:
            continue
        if source.id in seen:
            problems.append(f"source `{source.id}`: duplicate id")
        seen.add(source.id)
        sources.append(source)
    if problems:
        raise ConfigError(path, problems)
    return Config(Path(path), settings, tuple(sources))


def _settings(raw: Any, problems: list[str], directory: Path) -> Settings:
    if not isinstance(raw, dict):
        problems.append("`settings` must be a mapping")
        return Settings()
    for key in sorted(set(raw) - _SETTINGS_KEYS):
        problems.append(
            f"settings: unknown key `{key}` (expected one of {', '.join(sorted(_SETTINGS_KEYS))})"
        )
    base_url = str(raw.get("base_url", Settings.base_url)).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        problems.append(f"settings.base_url: expected an http(s) URL, got {base_url!r}")
    share = raw.get("max_withdraw_share", Settings.max_withdraw_share)
    if not isinstance(share, int | float) or not 0 <= share <= 1:
        problems.append(f"settings.max_withdraw_share: expected a number between 0 and 1, got {share!r}")
        share = Settings.max_withdraw_share
    page_size = raw.get("page_size", Settings.page_size)
    if not isinstance(page_size, int) or page_size < 1:
        problems.append(f"settings.page_size: expected a positive integer, got {page_size!r}")
        page_size = Settings.page_size
    http = raw.get("http") or {}
    if not isinstance(http, dict):
        problems.append("settings.http: expected a mapping")
        http = {}
    for key, value in http.items():
        if key not in _HTTP_KEYS:
            problems.append(
                f"settings.http: unknown key `{key}` (expected one of {', '.join(sorted(_HTTP_KEYS))})"
            )
        elif not isinstance(value, int | float) or value < 0:
            problems.append(f"settings.http.{key}: expected a non-negative number, got {value!r}")
    token = os.environ.get("FEDCAT_ADMIN_TOKEN") or raw.get("admin_token")
    limits = {}
    for key in ("max_concurrency", "max_per_host"):
        value = raw.get(key, getattr(Settings, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"settings.{key}: expected a positive integer, got {value!r}")
            value = getattr(Settings, key)
        limits[key] = value
    robots = raw.get("respect_robots", False)
    if not isinstance(robots, bool):
        problems.append(f"settings.respect_robots: expected true or false, got {robots!r}")
        robots = False
    log_format = raw.get("log_format", Settings.log_format)
    if log_format not in LOG_FORMATS:
        problems.append(f"settings.log_format: expected one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
        log_format = Settings.log_format
    grace = raw.get("shutdown_grace", Settings.shutdown_grace)
    if not isinstance(grace, int | float) or isinstance(grace, bool) or grace < 0:
        problems.append(f"settings.shutdown_grace: expected a number of seconds, got {grace!r}")
        grace = Settings.shutdown_grace
    catalogue = raw.get("catalogue") or {}
    if not isinstance(catalogue, dict):
        problems.append(f"settings.catalogue: expected a mapping of {', '.join(CATALOGUE_KEYS)}")
        catalogue = {}
    for key, value in catalogue.items():
        if key not in CATALOGUE_KEYS:
            problems.append(
                f"settings.catalogue: unknown key `{key}` (expected one of {', '.join(CATALOGUE_KEYS)})"
            )
        elif not isinstance(value, str) or not value.strip():
            problems.append(f"settings.catalogue.{key}: expected a non-empty text, got {value!r}")
    bodies = raw.get("bodies") or []
    if not isinstance(bodies, list) or not all(isinstance(b, str) and b.strip() for b in bodies):
        problems.append("settings.bodies: expected a list of file paths")
        bodies = []
    for entry in bodies:
        if "://" in entry:  # reference data is pinned to a version the administrator chose, not fetched
            problems.append(f"settings.bodies: {entry!r} is a URL; download the file and give its path")
    federation = raw.get("federation") or {}
    overrides, threshold = None, None
    if not isinstance(federation, dict) or set(federation) - {"overrides", "threshold"}:
        problems.append("settings.federation: expected a mapping with `overrides` (a file) and `threshold`")
    else:
        if federation.get("overrides") is not None:
            if not isinstance(federation["overrides"], str) or "://" in federation["overrides"]:
                problems.append("settings.federation.overrides: expected the path of a YAML file")
            else:
                overrides = directory / Path(federation["overrides"].strip()).expanduser()
        if federation.get("threshold") is not None:
            threshold = federation["threshold"]
            if (
                isinstance(threshold, bool)
                or not isinstance(threshold, int | float)
                or not 0 <= threshold <= 1
            ):
                problems.append(
                    f"settings.federation.threshold: expected a number from 0 to 1, got {threshold!r}"
                )
                threshold = None
    return Settings(
        base_url=base_url,
        contact=raw.get("contact"),
        max_withdraw_share=float(share),
        page_size=page_size,
        http=dict(http),
        admin_token=str(token) if token else None,
        respect_robots=robots,
        log_format=log_format,
        shutdown_grace=float(grace),
        catalogue={k: v.strip() for k, v in catalogue.items() if k in CATALOGUE_KEYS and isinstance(v, str)},
        bodies=tuple(directory / Path(b.strip()).expanduser() for b in bodies),
        federation_overrides=overrides,
        federation_threshold=float(threshold) if threshold is not None else None,
        **limits,
    )


def _source(entry: Any, index: int, problems: list[str]) -> Source | None:
    if not isinstance(entry, dict):
        problems.append(f"sources[{index}]: expected a mapping with id, name, type and url")
        return None
    label = f"source `{entry['id']}`" if isinstance(entry.get("id"), str) else f"sources[{index}]"
    before = len(problems)
    for key in sorted(set(entry) - _SOURCE_KEYS):
        problems.append(f"{label}: unknown key `{key}` (expected one of {', '.join(sorted(_SOURCE_KEYS))})")
    for key in ("id", "name", "type", "url"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            problems.append(f"{label}: `{key}` is required and must be a non-empty string")
    if isinstance(entry.get("id"), str) and not _ID.match(entry["id"]):
        problems.append(f"{label}: `id` must be lowercase letters, digits, '-' or '_' (at most 64)")
    from .adapters import ADAPTERS  # here: the adapters import this module

    if isinstance(entry.get("type"), str) and entry["type"] not in ADAPTERS:
        problems.append(
            f"{label}: `type` must be one of {', '.join(sorted(ADAPTERS))}, got {entry['type']!r}"
        )
    if isinstance(entry.get("url"), str) and not entry["url"].startswith(("http://", "https://")):
        problems.append(f"{label}: `url` must be an http(s) URL, got {entry['url']!r}")
    jurisdiction = _jurisdiction(entry.get("jurisdiction"), label, problems)
    schedule = entry.get("schedule")
    if schedule is not None:
        schedule = _check_cron(schedule, label, problems)
    options = entry.get("options") or {}
    if not isinstance(options, dict):
        problems.append(f"{label}: `options` must be a mapping")
        options = {}
    hosts = entry.get("allowed_hosts") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        problems.append(f"{label}: `allowed_hosts` must be a list of host names")
        hosts = []
    if len(problems) > before:
        return None
    return Source(
        id=entry["id"],
        name=entry["name"].strip(),
        type=entry["type"],
        url=entry["url"].strip(),
        jurisdiction=jurisdiction,
        schedule=schedule,
        options=options,
        allowed_hosts=tuple(h.lower() for h in hosts),
        enabled=bool(entry.get("enabled", True)),
    )


def _jurisdiction(raw: Any, label: str, problems: list[str]) -> Jurisdiction | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or "level" not in raw or "code" not in raw:
        problems.append(f"{label}: `jurisdiction` must be a mapping with `level` and `code`")
        return None
    if raw["level"] not in JURISDICTION_LEVELS:
        problems.append(
            f"{label}: `jurisdiction.level` must be one of {', '.join(JURISDICTION_LEVELS)}, got {raw['level']!r}"
        )
        return None
    return Jurisdiction(level=raw["level"], code=str(raw["code"]), name=raw.get("name"))


def _check_cron(value: Any, label: str, problems: list[str]) -> str | None:
    from apscheduler.triggers.cron import CronTrigger

    if not isinstance(value, str):
        problems.append(f"{label}: `schedule` must be a cron expression string like '0 3 * * *'")
        return None
    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        problems.append(f"{label}: `schedule` {value!r} is not a valid cron expression ({exc})")
        return None
    return value
