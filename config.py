"""fedcat's configuration, in one typed module: the settings, the sources, and every environment variable.

`sources.yaml` holds the federation (one entry per source) and fedcat's own settings. A bad file yields one
clear message per problem (which source, which key, what was expected); callers print them and exit 2,
never a traceback. Each source type's `options` are declared by its adapter as a `SourceOptions` subclass
(a typed msgspec struct) and checked here, at load time: `options: {page_size: "big"}` or an unknown option
is a configuration error naming the source and the key, never a harvest that crashes.

This module sits at the bottom of the layers: it imports nothing of fedcat but `redaction`, so the adapters' option types
come in as a parameter (`harvester.sources` passes the adapters' table). `fedcat config --reference` prints
the table of every setting, option and environment variable that docs/configuration.md carries (a test checks it).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any

import msgspec
import yaml

from .redaction import add_secret_params, redact_url

JURISDICTION_LEVELS = ("commune", "epci", "departement", "region", "country", "eu", "other")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
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
    "headers",
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
    "secret_params",
    "private_networks",
    "max_record_bytes",
    "max_literal_chars",
    "max_pages",
    "withdraw_window_days",
    "cors_origins",
    "search",
}
# settings.search: which engine answers searches (`embedded` by default) and how to reach Elasticsearch.
SEARCH_BACKENDS = ("embedded", "sqlite", "elasticsearch")
_SEARCH_KEYS = {"backend", "url", "api_key", "username", "password", "ca_certs", "index_prefix", "replicas"}
CATALOGUE_KEYS = ("title", "description", "publisher")  # what fedcat's own dcat:Catalog says of itself
LOG_FORMATS = ("text", "json")
_HTTP_KEYS = {"connect_timeout", "read_timeout", "max_bytes", "retries", "backoff", "run_budget"}


def _doc(default: Any, doc: str) -> Any:
    """A settings field with an immutable default and its documentation (read by `reference()`)."""
    return field(default=default, metadata={"doc": doc})


class SourceOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The options every source type accepts; an adapter declares its own as a subclass (`Adapter.Options`).

    Each field's `msgspec.Meta(description=...)` is its line in the README's reference table.
    """

    page_size: (
        Annotated[
            int, msgspec.Meta(ge=1, description="Records asked per page (default: `settings.page_size`).")
        ]
        | None
    ) = None
    respect_robots: Annotated[
        bool, msgspec.Meta(description="Obey the source's robots.txt (as `settings.respect_robots`).")
    ] = False


# the `language` option of the source types whose platforms leave texts untagged
UntaggedLanguage = Annotated[
    str,
    msgspec.Meta(min_length=1, description="The language of texts the source leaves untagged, e.g. `fr`."),
]


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
    # request headers sent to the source's own origin only, `${VAR}` read from the environment at each run
    # (credentials: `Authorization: "Bearer ${PORTAL_TOKEN}"`), never stored, shown or logged
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Settings:
    """fedcat's own settings (`settings:` in the file); each field's `doc` is its README reference line."""

    base_url: str = _doc(
        "http://127.0.0.1:8000", "Dataset URIs are minted under it: `{base_url}/datasets/{id}`."
    )
    contact: str | None = _doc(None, "Added to the User-Agent so that portal operators can reach you.")
    max_withdraw_share: float = _doc(
        0.5, "A complete run may withdraw at most this share of a source (0 to 1)."
    )
    withdraw_window_days: float = _doc(
        7.0,
        "`max_withdraw_share` also bounds what runs withdrew within this many days and is still withdrawn "
        "(runs each under the limit must not add up); 0: each run alone.",
    )
    page_size: int = _doc(1000, "Records asked per page of paged APIs (a source's `options.page_size` wins).")
    max_record_bytes: int = _doc(
        8 * 1024 * 1024,
        "A record's raw payload at most: over it the record fails alone, its last good version stays live and "
        "its payload is kept in the data dir's `rejected/<source>/` for review.",
    )
    max_literal_chars: int = _doc(2_000_000, "Each text of a record at most; likewise.")
    max_pages: int = _doc(
        100_000, "Pages one run reads at most (a source serving pages without end): then `partial`."
    )
    http: dict[str, float] = field(
        default_factory=dict,
        metadata={
            "doc": "HTTP limits: `connect_timeout` and `read_timeout` (s), `max_bytes` (per response), `retries`, "
            "`backoff` (s before the first retry, doubling), `run_budget` (s for one source's run)."
        },
    )
    admin_token: str | None = _doc(
        None, "Bearer token of the admin endpoints (`FEDCAT_ADMIN_TOKEN` wins); none: they are disabled."
    )
    max_concurrency: int = _doc(16, "Runs (and requests) in flight at once, all sources together.")
    max_per_host: int = _doc(2, "Runs (and requests) in flight at once to any one host.")
    respect_robots: bool = _doc(
        False, "Obey robots.txt (a source can also ask with `options.respect_robots`)."
    )
    log_format: str = _doc(
        "text", "`text` or `json` (one object per line); `FEDCAT_LOG_FORMAT` and `--log-format` win."
    )
    shutdown_grace: float = _doc(
        30.0, "Seconds `fedcat run` waits on SIGTERM for runs to end a page cleanly."
    )
    catalogue: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "doc": "fedcat's own `dcat:Catalog`: `title`, `description`, `publisher` "
            "(default: named after the host)."
        },
    )
    bodies: tuple[Path, ...] = _doc(
        (),
        "Registry files of public bodies for `fedcat audit` and the jurisdiction hierarchy of search (paths "
        "relative to the config file).",
    )
    federation: Federation = field(
        default_factory=lambda: Federation(),
        metadata={
            "doc": "Duplicate clusters: `overrides` (a YAML file of forced `merge:` and `split:` lists of "
            "fedcat ids, relative to the config file), `threshold` (the confidence a link needs, 0 to 1) and "
            "`title_similarity` (how alike two titles must be for the last-resort rule, 0 to 1; both "
            "default to federation/rules.yaml's)."
        },
    )
    secret_params: tuple[str, ...] = _doc(
        (),
        "Query parameter names masked wherever fedcat shows or publishes a URL, added to the defaults "
        "(`apikey`, `api_key`, `token`, `key`, `secret`, `password`, `access_token`, `signature`).",
    )
    private_networks: tuple[str, ...] = _doc(
        (),
        "Private networks (`10.20.0.0/16`, `fd00::/8`, one address) that any source's links may reach. Without "
        "them a source on a private network reaches only its own host's addresses; link-local ones (the cloud "
        "metadata service) only when listed here.",
    )
    cors_origins: tuple[str, ...] = _doc(
        (),
        "Web origins whose pages may call the API (CORS), e.g. `https://portal.example.org`; `*`: any; "
        "none: no cross-origin headers (`FEDCAT_CORS_ORIGINS` wins).",
    )
    # holds secrets (api_key, password): never shown
    search: dict[str, Any] = field(
        default_factory=dict,
        repr=False,
        metadata={
            "doc": "The search engine: `backend` (`embedded`, `sqlite` or `elasticsearch`) and, for "
            "Elasticsearch, `url`, `api_key` or `username` and `password` (or `FEDCAT_ELASTICSEARCH_API_KEY` / "
            "`_PASSWORD`), `ca_certs` (relative to the config file), `index_prefix` (default `fedcat`), "
            "`replicas` (default 0)."
        },
    )


@dataclass(frozen=True)
class Federation:
    """`settings.federation`: how copies of one dataset are grouped (see `fedcat.federation`)."""

    overrides: Path | None = None
    threshold: float | None = None
    title_similarity: float | None = None  # the last-resort rule's near-identical titles (rules.yaml)


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


def load_config(path: Path | str, source_types: Mapping[str, type[SourceOptions]]) -> Config:
    """Read and validate a sources file; raise ConfigError listing every problem.

    `source_types`: each accepted `type` and the options it declares (the adapters' table).
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            path,
            [
                "no such file: write one (the README's Configuration section has an example; "
                "`fedcat config --reference` lists every setting), pass --config FILE or set FEDCAT_CONFIG, "
                "or try `fedcat demo`"
            ],
        ) from exc
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}"]) from exc
    return parse_config(data, source_types, path)


def parse_config(
    data: Any, source_types: Mapping[str, type[SourceOptions]], path: Path | str = "<config>"
) -> Config:
    problems: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise ConfigError(path, ["expected a mapping with a top-level `sources:` list"])
    for key in sorted(set(data) - {"sources", "settings"}):
        problems.append(f"unknown top-level key `{key}` (expected `sources` and optional `settings`)")
    settings = _settings(data.get("settings") or {}, problems, Path(path).parent)
    sources, seen = [], set()
    for index, entry in enumerate(data["sources"]):
        source = _source(entry, index, problems, source_types)
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
    caps: dict[str, Any] = {}
    for key in ("max_record_bytes", "max_literal_chars", "max_pages"):
        value = raw.get(key, getattr(Settings, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"settings.{key}: expected a positive integer, got {value!r}")
            value = getattr(Settings, key)
        caps[key] = value
    window = raw.get("withdraw_window_days", Settings.withdraw_window_days)
    if not isinstance(window, int | float) or isinstance(window, bool) or window < 0:
        problems.append(f"settings.withdraw_window_days: expected a number of days, got {window!r}")
        window = Settings.withdraw_window_days
    caps["withdraw_window_days"] = float(window)
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
    secret_params = raw.get("secret_params") or []
    if not isinstance(secret_params, list) or not all(isinstance(p, str) and p for p in secret_params):
        problems.append("settings.secret_params: expected a list of query parameter names")
        secret_params = []
    add_secret_params(secret_params)  # masked wherever fedcat shows a URL (added to the defaults)
    networks = raw.get("private_networks") or []
    if not isinstance(networks, list):
        problems.append("settings.private_networks: expected a list of networks such as 10.20.0.0/16")
        networks = []
    for network in networks:
        try:
            ipaddress.ip_network(str(network).strip(), strict=False)
        except ValueError:
            problems.append(f"settings.private_networks: {network!r} is not a network such as 10.20.0.0/16")
            networks = []
    bodies = raw.get("bodies") or []
    if not isinstance(bodies, list) or not all(isinstance(b, str) and b.strip() for b in bodies):
        problems.append("settings.bodies: expected a list of file paths")
        bodies = []
    for entry in bodies:
        if "://" in entry:  # reference data is pinned to a version the administrator chose, not fetched
            problems.append(f"settings.bodies: {entry!r} is a URL; download the file and give its path")
    federation = _federation(raw.get("federation"), directory, problems)
    origins = os.environ.get("FEDCAT_CORS_ORIGINS")
    cors = origins.split(",") if origins is not None else raw.get("cors_origins") or []
    if not isinstance(cors, list) or not all(isinstance(o, str) for o in cors):
        problems.append("settings.cors_origins: expected a list of origins such as https://example.org")
        cors = []
    cors = [o.strip().rstrip("/") for o in cors if o.strip()]
    for origin in cors:
        if origin != "*" and not re.match(r"^https?://[^/?#\s]+$", origin):
            problems.append(f"settings.cors_origins: {origin!r} is not an origin (scheme://host[:port]) or *")
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
        federation=federation,
        secret_params=tuple(secret_params),
        private_networks=tuple(str(n).strip() for n in networks),
        cors_origins=tuple(cors),
        search=_search_settings(raw.get("search") or {}, problems, directory),
        **limits,
        **caps,
    )


def _federation(raw: Any, directory: Path, problems: list[str]) -> Federation:
    if raw is None:
        return Federation()
    if not isinstance(raw, dict) or set(raw) - {"overrides", "threshold", "title_similarity"}:
        problems.append(
            "settings.federation: expected a mapping with `overrides` (a file), `threshold` and"
            " `title_similarity`"
        )
        return Federation()
    overrides = raw.get("overrides")
    if overrides is not None and (
        not isinstance(overrides, str) or "://" in overrides or not overrides.strip()
    ):
        problems.append("settings.federation.overrides: expected the path of a YAML file")
        overrides = None
    numbers: dict[str, float | None] = {}
    for name in ("threshold", "title_similarity"):
        value = raw.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1
        ):
            problems.append(f"settings.federation.{name}: expected a number from 0 to 1, got {value!r}")
            value = None
        numbers[name] = float(value) if value is not None else None
    return Federation(
        overrides=directory / Path(overrides.strip()).expanduser() if overrides else None, **numbers
    )


def _search_settings(raw: Any, problems: list[str], directory: Path) -> dict[str, Any]:
    """settings.search, checked (the secrets may come from the environment instead: see catalogue)."""
    if not isinstance(raw, dict):
        problems.append("settings.search: expected a mapping (backend, url, api_key, …)")
        return {}
    for key in sorted(set(raw) - _SEARCH_KEYS):
        problems.append(
            f"settings.search: unknown key `{key}` (expected one of {', '.join(sorted(_SEARCH_KEYS))})"
        )
    search = {k: v for k, v in raw.items() if k in _SEARCH_KEYS}
    backend = search.get("backend")
    if backend is not None and backend not in SEARCH_BACKENDS:
        problems.append(
            f"settings.search.backend: expected one of {', '.join(SEARCH_BACKENDS)}, got {backend!r}"
        )
    for key in ("url", "api_key", "username", "password", "ca_certs", "index_prefix"):
        if key in search and (not isinstance(search[key], str) or not search[key].strip()):
            problems.append(f"settings.search.{key}: expected a non-empty text")
    url = search.get("url")
    if isinstance(url, str) and not url.startswith(("http://", "https://")):
        problems.append(f"settings.search.url: expected an http(s) URL, got {redact_url(url)!r}")
    prefix = search.get("index_prefix")
    if isinstance(prefix, str) and not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", prefix):
        problems.append(
            f"settings.search.index_prefix: lowercase letters, digits, - and _ only, got {prefix!r}"
        )
    replicas = search.get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        problems.append(f"settings.search.replicas: expected a non-negative integer, got {replicas!r}")
    if isinstance(search.get("ca_certs"), str):
        search["ca_certs"] = str(directory / Path(search["ca_certs"]).expanduser())
    return search


def _source(
    entry: Any, index: int, problems: list[str], source_types: Mapping[str, type[SourceOptions]]
) -> Source | None:
    if not isinstance(entry, dict):
        problems.append(f"sources[{index}]: expected a mapping with id, type and url (name optional)")
        return None
    label = f"source `{entry['id']}`" if isinstance(entry.get("id"), str) else f"sources[{index}]"
    before = len(problems)
    for key in sorted(set(entry) - _SOURCE_KEYS):
        problems.append(f"{label}: unknown key `{key}` (expected one of {', '.join(sorted(_SOURCE_KEYS))})")
    for key in ("id", "type", "url"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            problems.append(f"{label}: `{key}` is required and must be a non-empty string")
    if "name" in entry and (not isinstance(entry["name"], str) or not entry["name"].strip()):
        problems.append(f"{label}: `name`, when given, must be a non-empty string (default: the id)")
    if isinstance(entry.get("id"), str) and not _ID.match(entry["id"]):
        problems.append(f"{label}: `id` must be lowercase letters, digits, '-' or '_' (at most 64)")
    if isinstance(entry.get("type"), str) and entry["type"] not in source_types:
        problems.append(
            f"{label}: `type` must be one of {', '.join(sorted(source_types))}, got {entry['type']!r}"
        )
    if isinstance(entry.get("url"), str) and not entry["url"].startswith(("http://", "https://")):
        problems.append(f"{label}: `url` must be an http(s) URL, got {redact_url(entry['url'])!r}")
    jurisdiction = _jurisdiction(entry.get("jurisdiction"), label, problems)
    schedule = entry.get("schedule")
    if schedule is not None:
        schedule = _check_cron(schedule, label, problems)
    options = entry.get("options") or {}
    if not isinstance(options, dict):
        problems.append(f"{label}: `options` must be a mapping")
        options = {}
    elif entry.get("type") in source_types:
        _check_options(options, source_types[entry["type"]], label, entry["type"], problems)
    headers = entry.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and _HEADER_NAME.match(k) and isinstance(v, str) for k, v in headers.items()
    ):
        problems.append(
            f"{label}: `headers` must map header names to texts (`${{VAR}}` reads the environment)"
        )
        headers = {}
    hosts = entry.get("allowed_hosts") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        problems.append(f"{label}: `allowed_hosts` must be a list of host names")
        hosts = []
    if len(problems) > before:
        return None
    return Source(
        id=entry["id"],
        name=(entry.get("name") or entry["id"]).strip(),  # a label to show; the id until one is given
        type=entry["type"],
        url=entry["url"].strip(),
        jurisdiction=jurisdiction,
        schedule=schedule,
        options=options,
        allowed_hosts=tuple(h.lower() for h in hosts),
        enabled=bool(entry.get("enabled", True)),
        headers=tuple(headers.items()),
    )


def header_values(source: Source) -> dict[str, str]:
    """The source's headers with `${VAR}` read from the environment now; a missing variable is an error
    naming it (its value is never part of a message)."""
    for name, template in source.headers:
        for variable in _ENV_REFERENCE.findall(template):
            if variable not in os.environ:
                problem = f"source `{source.id}`: header {name} needs the environment variable {variable}"
                raise ConfigError("sources", [problem])
    return {name: _ENV_REFERENCE.sub(lambda m: os.environ[m[1]], value) for name, value in source.headers}


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


def _check_options(
    options: dict[str, Any], declared: type[SourceOptions], label: str, source_type: str, problems: list[str]
) -> None:
    """One problem per bad option (msgspec stops at the first: each key is checked on its own)."""
    fields_ = msgspec.structs.fields(declared)
    names = [f.name for f in fields_]
    for key, value in options.items():
        if key not in names:
            problems.append(
                f"{label}: unknown option `{key}` for type {source_type} (expected one of {', '.join(names)})"
            )
            continue
        try:
            msgspec.convert({key: value}, declared)
        except msgspec.ValidationError as exc:
            reason, _, where = str(exc).partition(" - at `")
            where = where.rstrip("`").replace("$", "options", 1) or f"options.{key}"
            if "matching regex" in reason:  # the pattern says less to a reader than the option's description
                reason = "Expected " + _describe(next(f.type for f in fields_ if f.name == key))[1]
            problems.append(f"{label}: {where}: {reason[0].lower()}{reason[1:]} (given: {value!r})")


# --- environment variables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvVar:
    default: str | None
    doc: str


# Every environment variable fedcat reads (a test checks that the source reads no other `FEDCAT_…`).
ENVIRONMENT: dict[str, EnvVar] = {
    "FEDCAT_CONFIG": EnvVar("sources.yaml", "The configuration file (`--config` wins)."),
    "FEDCAT_DATA_DIR": EnvVar(
        "fedcat-data", "The data dir: the store `fedcat.db` and the index (`--data-dir` wins)."
    ),
    "FEDCAT_BACKEND": EnvVar(
        "embedded",
        "The search backend: `embedded` (tantivy), `sqlite` or `elasticsearch` (`--backend` wins; it wins "
        "over `settings.search.backend`).",
    ),
    "FEDCAT_ELASTICSEARCH_URL": EnvVar(
        None,
        "The Elasticsearch node (wins over `settings.search.url`); alone, it also selects the "
        "`elasticsearch` backend.",
    ),
    "FEDCAT_ELASTICSEARCH_API_KEY": EnvVar(
        None, "Elasticsearch API key (wins over `settings.search.api_key`)."
    ),
    "FEDCAT_ELASTICSEARCH_PASSWORD": EnvVar(
        None, "Elasticsearch password of `settings.search.username` (wins over `settings.search.password`)."
    ),
    "FEDCAT_ADMIN_TOKEN": EnvVar(
        None, "Bearer token of the admin endpoints (wins over `settings.admin_token`)."
    ),
    "FEDCAT_LOG_FORMAT": EnvVar(
        None, "`text` or `json` (wins over `settings.log_format`; `--log-format` wins over it)."
    ),
    "FEDCAT_CORS_ORIGINS": EnvVar(
        None, "Comma-separated web origins allowed to call the API (wins over `settings.cors_origins`)."
    ),
    "FEDCAT_SPARQL_TIMEOUT": EnvVar("10", "Seconds a SPARQL query may run before it is stopped (503)."),
    "FEDCAT_SPARQL_MAX_RESULTS": EnvVar(
        "10000", "Rows a SPARQL answer holds at most (then `X-Fedcat-Truncated`)."
    ),
    "FEDCAT_SPARQL_QUEUE": EnvVar(
        "4", "SPARQL queries waiting or running at once (the running one included); beyond: 503 at once."
    ),
    "FEDCAT_SPARQL_MAX_QUERY": EnvVar("20000", "Characters a SPARQL query may have (longer: 400)."),
    "FEDCAT_SPARQL_MAX_DEPTH": EnvVar(
        "64", "Groups and brackets a SPARQL query may nest (deeper: 400, before parsing)."
    ),
    "FEDCAT_SHAPES_DIR": EnvVar(
        None, "A directory of official DCAT-AP SHACL shape files to validate with (else those installed)."
    ),
    "FEDCAT_SHAPES_PUBLISHER": EnvVar(
        None, "The base URL `fedcat install-shapes` fetches the DCAT-AP shapes from by default."
    ),
}


# --- the reference table -----------------------------------------------------------------------------------


def reference(source_types: Mapping[str, type[SourceOptions]]) -> str:
    """Markdown tables of every setting, every source type's options and every environment variable."""
    lines = ["#### Settings (`settings:`)", "", "| key | default | what it does |", "|---|---|---|"]
    for f in fields(Settings):
        default = f.default if f.default is not MISSING else None
        shown = "—" if default in (None, ()) else f"`{_yaml(default)}`"
        lines.append(f"| `{f.name}` | {shown} | {f.metadata['doc']} |")
    lines += [
        "",
        "#### Source options (`options:` of a source)",
        "",
        "| option | for types | value | what it does |",
    ]
    lines.append("|---|---|---|---|")
    by_option: dict[str, tuple[list[str], str, str]] = {}
    for source_type, declared in sorted(source_types.items()):
        for option in msgspec.structs.fields(declared):
            kind, doc = _describe(option.type)
            types, _, _ = by_option.setdefault(option.name, ([], kind, doc))
            types.append(source_type)
    for name, (types, kind, doc) in sorted(by_option.items()):
        shown = "all" if len(types) == len(source_types) else ", ".join(f"`{t}`" for t in types)
        lines.append(f"| `{name}` | {shown} | {kind} | {doc} |")
    lines += ["", "#### Environment variables", "", "| variable | default | what it does |", "|---|---|---|"]
    for name, var in ENVIRONMENT.items():
        lines.append(f"| `{name}` | {f'`{var.default}`' if var.default else '—'} | {var.doc} |")
    return "\n".join(lines) + "\n"


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _describe(annotation: Any) -> tuple[str, str]:
    """(what the value may be, its description) of an option's msgspec type."""
    info = msgspec.inspect.type_info(annotation)
    doc = ""
    if isinstance(info, msgspec.inspect.UnionType):
        kept = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        info = kept[0] if len(kept) == 1 else info
    if isinstance(info, msgspec.inspect.Metadata):
        doc = (info.extra_json_schema or {}).get("description", "")
        info = info.type
    return _kind(info), doc


def _kind(info: Any) -> str:
    inspect = msgspec.inspect
    if isinstance(info, inspect.Metadata):
        return _kind(info.type)
    if isinstance(info, inspect.BoolType):
        return "true or false"
    if isinstance(info, inspect.IntType):
        return "integer" + (f" ≥ {info.ge}" if info.ge is not None else "")
    if isinstance(info, inspect.FloatType):
        return "number"
    if isinstance(info, inspect.StrType):
        return "text" + (" (not empty)" if info.min_length or info.pattern else "")
    if isinstance(info, inspect.ListType):
        return f"list of {_kind(info.item_type)}"
    if isinstance(info, inspect.UnionType):
        return " or ".join(_kind(t) for t in info.types if not isinstance(t, inspect.NoneType))
    return type(info).__name__
