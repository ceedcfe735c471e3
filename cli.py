"""The `fedcat` command: harvest, serve, run, demo, status, reindex, quality, linkcheck, audit."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .catalogue import BACKENDS, Catalogue, default_config, default_data_dir, disagreement
from .config import Settings
from .harvester.pool import RunContext
from .harvester.run import RunResult, harvest
from .harvester.sources import ConfigError
from .redaction import redact_logs, redact_url

console = Console(stderr=True)
# tables go to stdout; when piped, rich would squeeze them into 80 columns
out = Console(width=None if sys.stdout.isatty() else 160)
log = logging.getLogger("fedcat.cli")
STATUS_STYLE = {
    "complete": "green",
    "partial": "yellow",
    "failed": "red",
    "interrupted": "red",
    "running": "cyan",
}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"sources file (default: $FEDCAT_CONFIG or {default_config()})",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where the store and index live (default: $FEDCAT_DATA_DIR or {default_data_dir()})",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="search backend (default: $FEDCAT_BACKEND, settings.search.backend, elasticsearch if "
        "$FEDCAT_ELASTICSEARCH_URL is set, else embedded)",
    )
    _logging_options(parser)


def _logging_options(parser: argparse.ArgumentParser) -> None:
    """-v and --log-format are accepted after the command too; SUPPRESS keeps a value given before it."""
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"), default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedcat", description="Federated open-data catalogue aggregator.")
    parser.add_argument("--version", action="version", version=f"fedcat {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=None,
        help="json: one JSON object per line (default: $FEDCAT_LOG_FORMAT, else settings.log_format, else text)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("harvest", help="harvest sources now (all enabled sources by default)")
    p.add_argument("sources", nargs="*", metavar="SOURCE_ID", help="only these sources")
    p.add_argument("--full", action="store_true", help="ignore HTTP validators: fetch every page again")
    p.add_argument(
        "--force-withdraw",
        action="store_true",
        help="withdraw unseen records even over the mass-withdrawal limit",
    )
    _common(p)

    p = commands.add_parser("serve", help="serve the search API and linked data")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000)
    _common(p)

    p = commands.add_parser(
        "run", help="the service: harvest each source on its schedule, serve the API and admin endpoints"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000)
    p.add_argument("--no-api", action="store_true", help="only the scheduler: serve no API")
    p.add_argument(
        "--no-catch-up", action="store_true", help="do not run sources whose scheduled time passed while down"
    )
    _common(p)

    p = commands.add_parser("demo", help="start a local example portal, harvest it and serve the API")
    p.add_argument("--port", type=_port, default=8000, help="API port (the example portal takes a free port)")
    p.add_argument("--data-dir", type=Path, default=None, help="default: a fresh temporary directory")
    p.add_argument(
        "--no-serve", action="store_true", help="harvest the demo portal, print the summary and exit"
    )
    _logging_options(p)

    p = commands.add_parser("status", help="each source's last run, its age, counts and last error")
    p.add_argument("--format", choices=("table", "json"), default="table", dest="output")
    _common(p)

    p = commands.add_parser("reindex", help="rebuild the search index from the store")
    _common(p)

    p = commands.add_parser(
        "remap", help="map the stored payloads again with today's mappings and vocabularies"
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE_ID", help="only these sources (default: all)")
    _common(p)

    p = commands.add_parser("export", help="write the whole catalogue as DCAT-AP RDF, in constant memory")
    p.add_argument("--format", choices=("ttl", "nt", "jsonld", "rdf"), default="ttl", dest="rdf_format")
    p.add_argument("--out", type=Path, required=True, help="the file to write ('-': standard output)")
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="worker processes (default: one a core, at most 3)",
    )
    _common(p)

    p = commands.add_parser(
        "validate",
        help="check the DCAT-AP output against the official DCAT-AP 3.0 shapes (fedcat's core shapes when "
        "they are not installed; never fetches)",
    )
    p.add_argument(
        "--shapes",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="SHACL files or a directory of them (default: those `fedcat install-shapes` installed)",
    )
    p.add_argument("--profile", choices=("dcat-ap-3.0.1", "dcat-ap-3.0.0"), default="dcat-ap-3.0.1")
    p.add_argument("--limit", type=_positive_int, default=None, help="only the first N datasets")
    p.add_argument("--report", type=Path, default=None, help="write every violation per dataset as JSON")
    p.add_argument("--top", type=_positive_int, default=20, help="datasets listed (most violations first)")
    _common(p)

    p = commands.add_parser(
        "install-shapes",
        help="install the official DCAT-AP 3.0 SHACL shapes in the data dir, from files or a URL",
    )
    p.add_argument(
        "sources",
        nargs="*",
        metavar="FILE_DIR_OR_URL",
        help="shape files or a directory of them, or one URL laid out like SEMIC's release site "
        "(default: https://semiceu.github.io/DCAT-AP/releases/)",
    )
    p.add_argument("--profile", choices=("dcat-ap-3.0.1", "dcat-ap-3.0.0"), default="dcat-ap-3.0.1")
    _common(p)

    p = commands.add_parser(
        "quality", help="metadata quality (data.europa.eu MQA score) per source or publisher"
    )
    p.add_argument("--group-by", choices=("source", "publisher", "dataset"), default="source")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", dest="output")
    p.add_argument("--source", action="append", default=None, metavar="SOURCE_ID", help="only this source")
    _common(p)

    p = commands.add_parser(
        "audit", help="publication obligations: per public body, obligated or not, publishing or not"
    )
    p.add_argument(
        "--bodies",
        type=Path,
        nargs="+",
        default=None,
        metavar="PATH",
        help="registry files: decoupage-administratif JSON, bodies CSV or YAML (default: settings.bodies)",
    )
    p.add_argument(
        "--discovered",
        type=Path,
        default=None,
        metavar="FILE",
        help="what `fedcat discover --bodies … --format json` found: each body's row says where it publishes",
    )
    p.add_argument("--kind", action="append", default=None, help="only bodies of this kind (repeatable)")
    p.add_argument("--departement", default=None, metavar="CODE", help="only bodies within this département")
    p.add_argument(
        "--within",
        action="append",
        default=None,
        metavar="LEVEL:CODE",
        help="only bodies within it (e.g. epci:200093201)",
    )
    p.add_argument("--obligated-only", action="store_true", help="only bodies obliged to publish")
    p.add_argument("--not-publishing", action="store_true", help="only bodies with no live dataset")
    p.add_argument(
        "--has",
        action="append",
        default=None,
        metavar="FAMILY",
        help="only bodies publishing a dataset of this family, e.g. deliberations (repeatable)",
    )
    p.add_argument(
        "--missing",
        action="append",
        default=None,
        metavar="FAMILY",
        help="only bodies of a kind the family concerns that publish none of it (repeatable)",
    )
    p.add_argument(
        "--publication",
        action="append",
        default=None,
        metavar="PUBLICATION",
        help="only bodies found to publish so: harvested, not_harvested_yet (their website links to a portal "
        "not harvested yet: `fedcat discover --save`), no_evidence (repeatable)",
    )
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", dest="output")
    p.add_argument(
        "--limit",
        type=_non_negative_int,
        default=None,
        help="at most N bodies (0: all; default: 50 in a table, else all)",
    )
    _common(p)

    p = commands.add_parser(
        "duplicates", help="list clusters of copies of one dataset with their evidence, and who mirrors whom"
    )
    p.add_argument("--source", default=None, metavar="ID", help="only clusters with a copy from this source")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", dest="output")
    p.add_argument(
        "--limit", type=_non_negative_int, default=100, help="at most N clusters (default 100; 0: all)"
    )
    _common(p)

    p = commands.add_parser(
        "linkcheck", help="check that distribution URLs answer (HEAD, then ranged GET) for the quality score"
    )
    p.add_argument(
        "sources", nargs="*", metavar="SOURCE_ID", help="only these sources (default: all enabled)"
    )
    p.add_argument(
        "--rate", type=_rate, default=5.0, help="requests per second, all hosts together (e.g. 5 or 5/s)"
    )
    p.add_argument(
        "--concurrency", type=_positive_int, default=4, help="requests in flight (one per host at a time)"
    )
    p.add_argument("--timeout", type=_positive_float, default=10.0, help="seconds to wait for an answer")
    p.add_argument(
        "--max-age",
        type=_non_negative_float,
        default=7.0,
        help="re-check URLs checked more than this many days ago",
    )
    _common(p)

    p = commands.add_parser(
        "discover",
        help="crawl websites (small caps) for the catalogues and portals they link to, as sources.yaml entries",
    )
    p.add_argument("urls", nargs="*", metavar="URL", help="a body's website (its home page)")
    p.add_argument(
        "--bodies",
        nargs="+",
        type=Path,
        default=None,
        metavar="PATH",
        help="bodies files (CSV or YAML with a `website` column): crawl each body's website",
    )
    p.add_argument("--format", choices=("table", "yaml", "json"), default="table", dest="output")
    p.add_argument(
        "--max-pages", type=_positive_int, default=200, help="pages looked at per website (default 200)"
    )
    p.add_argument(
        "--save",
        action="store_true",
        help="keep what is found in the data dir's store: `fedcat audit`, /api/audit and /audit then say "
        "where each body publishes",
    )
    p.add_argument(
        "--no-probe",
        action="store_true",
        help="do not confirm proposed portals with one request to their API (all are 'pattern only')",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"with --save: where the store lives (default: $FEDCAT_DATA_DIR or {default_data_dir()})",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="sources file whose settings.contact goes in the User-Agent (default: $FEDCAT_CONFIG, if any)",
    )
    _logging_options(p)

    p = commands.add_parser(
        "config", help="check the configuration file, or print the reference of every setting and option"
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="print the Markdown tables of every setting, source option and environment variable",
    )
    p.add_argument(
        "--write",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"with --reference: replace the part of FILE between {REFERENCE_START} and {REFERENCE_END}",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"sources file to check (default: $FEDCAT_CONFIG or {default_config()})",
    )
    _logging_options(p)
    return parser


def _rate(text: str) -> float:
    value = _number(text.strip().removesuffix("/s"), float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"the rate must be positive, got {text!r}")
    return value


def _number(text: str, kind: type[int] | type[float]) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}"
        ) from None
    if value != value or value in (float("inf"), float("-inf")):  # nan, inf: no limit anyone means
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _bounded(
    kind: type[int] | type[float], low: float, high: float | None = None, *, above: bool = False
) -> Any:
    """An argparse type: a number of `kind` from `low` (excluded when `above`) to `high`."""
    what = "a whole number" if kind is int else "a number"
    bounds = f"above {low}" if above else f"of at least {low}" if high is None else f"from {low} to {high}"

    def parse(text: str) -> Any:
        value = _number(text, kind)
        if value < low or (above and value == low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {what} {bounds}, got {text!r}")
        return value

    return parse


_positive_int = _bounded(int, 1)
_non_negative_int = _bounded(int, 0)
_positive_float = _bounded(float, 0, above=True)
_non_negative_float = _bounded(float, 0)
_port = _bounded(int, 1, 65535)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's `extra` fields (`event`,
    `source`, `run`, `error`, ... : what a log collector filters on)."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        body.update((k, v) for k, v in vars(record).items() if k not in self._STANDARD)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time: rich's progress display redirects it to print log lines
    above its bars rather than through them."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _access_fields(record: logging.LogRecord) -> bool:
    """uvicorn's access log line as fields: event, client, method, path, status."""
    if isinstance(record.args, tuple) and len(record.args) == 5:
        client, method, path, version, status = record.args
        path = redact_url("http://h" + str(path))[len("http://h") :]  # a secret in a query string
        record.args = (client, method, path, version, status)
        record.event, record.client, record.method, record.path, record.status = (
            "access", client, method, path, status
        )  # fmt: skip
    return True


def setup_logging(log_format: str | None, verbose: bool = False, service: bool = False) -> None:
    """Warnings by default (a run that did not complete is one); info with -v, and always for the services
    (`serve`, `run`), whose start, runs and requests are their log."""
    handler = _StderrHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose or service else logging.WARNING)
    for chatty in ("apscheduler", "httpx"):  # a line per job or request: fedcat logs what matters of them
        logging.getLogger(chatty).setLevel(logging.NOTSET if verbose else logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    access.removeFilter(_access_fields)
    access.addFilter(_access_fields)
    redact_logs()  # no source credential in a log line


SERVICES = ("serve", "run")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except BrokenPipeError:  # `fedcat --help | head -1`
        _stdout_to_devnull()
        return 141
    args.log_format = args.log_format or os.environ.get("FEDCAT_LOG_FORMAT") or None
    setup_logging(args.log_format, args.verbose, args.command in SERVICES)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        console.print(f"[red]Configuration problems in {exc.path}:[/red]")
        for problem in exc.problems:
            console.print(f"  - {problem}")
        return 2
    except (KeyError, RuntimeError) as exc:
        console.print(f"[red]{exc.args[0] if exc.args else exc}[/red]")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`fedcat export --out - | head`): stop quietly, as cat does
        _stdout_to_devnull()
        return 141  # 128 + SIGPIPE: what a shell reports for a writer its pipe closed on
    except OSError as exc:  # a path that cannot be read or written, a port already taken…
        where = f"{exc.filename}: " if exc.filename else ""
        console.print(f"[red]fedcat {args.command}: {where}{exc.strerror or exc}[/red]", highlight=False)
        return 1
    except Exception as exc:  # a bug: one line for the user, the traceback only when asked for (-v)
        if args.verbose:
            log.exception("fedcat %s failed", args.command)
        console.print(
            f"[red]fedcat {args.command}: unexpected error: {type(exc).__name__}: {exc}[/red]\n"
            "This is a bug in fedcat; `fedcat -v …` shows where it happened.",
            highlight=False,
        )
        return 1


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout already closed or not a file: nothing left to flush into
        pass


def run_harvest(
    catalogue: Catalogue,
    source_ids: Sequence[str] = (),
    *,
    full: bool = False,
    force_withdraw: bool = False,
    context: RunContext | None = None,
) -> list[RunResult]:
    """Harvest with a progress bar per source; returns the run results."""
    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(source_id: str, counts: Counter, total: int | None) -> None:
            if source_id not in tasks:
                tasks[source_id] = progress.add_task(source_id, total=None, detail="")
            detail = f"{counts['created']} new, {counts['updated']} updated, {counts['failed']} failed"
            progress.update(tasks[source_id], completed=counts["seen"], total=total, detail=detail)

        with catalogue.harvesting():
            return harvest(
                catalogue.config,
                catalogue.store,
                catalogue.backend,
                source_ids,
                full=full,
                force_withdraw=force_withdraw,
                progress=on_progress,
                context=context,
            )


def print_summary(results: list[RunResult]) -> None:
    table = Table(title="Harvest summary")
    for column in (
        "source",
        "run",
        "status",
        "pages",
        "seen",
        "created",
        "updated",
        "unchanged",
        "withdrawn",
        "failed",
        "message",
    ):
        table.add_column(column, overflow="fold")
    for r in results:
        c = r.counts
        table.add_row(
            r.source_id,
            str(r.run_id),
            f"[{STATUS_STYLE[r.status]}]{r.status}[/]",
            *(
                str(c.get(k, 0))
                for k in ("pages", "seen", "created", "updated", "unchanged", "withdrawn", "failed")
            ),
            _elided(r.message or "", 200),
        )
    out.print(table)


def _elided(text: str, limit: int) -> str:
    """At most `limit` characters, cut in the middle: a message's cause comes last ("<url>: host name not
    found (…)") and a long URL before it must not push it out."""
    if len(text) <= limit:
        return text
    tail = limit * 3 // 5
    return text[: limit - tail - 1] + "…" + text[-tail:]


@contextmanager
def _stop_on_sigterm(context: RunContext) -> Iterator[None]:
    """`kill` ends a CLI harvest as it ends `fedcat run`: each run stops after its current page, writes its
    counters and ends `interrupted`, nothing withdrawn; sources not started are not. A second `kill`
    interrupts at once, like Ctrl-C."""

    def stop(signum: int, frame: object) -> None:
        if context.stop.is_set():
            raise KeyboardInterrupt
        context.stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_harvest(args: argparse.Namespace) -> int:
    catalogue = Catalogue.open(args.config, args.data_dir, args.backend)
    _log_format_from(catalogue, args)
    context = RunContext.for_settings(catalogue.config.settings)
    try:
        with _stop_on_sigterm(context):
            results = run_harvest(
                catalogue, args.sources, full=args.full, force_withdraw=args.force_withdraw, context=context
            )
    finally:
        catalogue.close()
    print_summary(results)
    return 1 if any(r.status == "failed" for r in results) else 0


def serve(catalogue: Catalogue, host: str, port: int, harvester: Any = None) -> None:
    """The API until SIGINT/SIGTERM, with an access log; `harvester` lets the admin endpoints trigger runs."""
    import uvicorn

    from .api.app import create_app

    _port_free(host, port)
    app = create_app(catalogue.store, catalogue.backend, catalogue.config)
    if harvester is not None:
        app.state.harvester = harvester
    # log_config=None: uvicorn's loggers go through fedcat's handler (and its JSON format)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", log_config=None, access_log=True)
    uvicorn.Server(config).run()


def _port_free(host: str, port: int) -> None:
    """A clear error before anything starts, rather than uvicorn's exit after "serving…"."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise RuntimeError(
                f"cannot listen on {host}:{port} ({exc.strerror}): is another server running there? "
                "Choose another port with --port"
            ) from None


def _warn_if_disagreeing(message: str | None) -> None:
    if message:
        console.print(f"[yellow]warning: {message}[/yellow]", highlight=False)


def _warn_if_minted_elsewhere(settings: Settings, host: str, port: int) -> None:
    """Dataset URIs are minted under `settings.base_url`; left at its default while serving on another
    address, every `uri` in the API and the RDF would name a server that is not this one."""
    if settings.base_url == Settings.base_url and f"{host}:{port}" != urlsplit(Settings.base_url).netloc:
        _warn_if_disagreeing(
            f"dataset URIs are minted under {Settings.base_url} (the default settings.base_url), not "
            f"http://{host}:{port}: set settings.base_url to the address people reach this server at"
        )


def cmd_serve(args: argparse.Namespace) -> int:
    _port_free(args.host, args.port)
    catalogue = Catalogue.open(args.config, args.data_dir, args.backend, writer=False)
    _warn_if_disagreeing(catalogue.disagreement())
    _warn_if_minted_elsewhere(catalogue.config.settings, args.host, args.port)
    console.print(f"fedcat API on http://{args.host}:{args.port}/api/datasets (docs: /docs)")
    try:
        serve(catalogue, args.host, args.port)
    finally:
        catalogue.close()
    return 0


def _log_format_from(catalogue: Catalogue, args: argparse.Namespace) -> None:
    """settings.log_format applies when neither --log-format nor $FEDCAT_LOG_FORMAT said otherwise."""
    if args.log_format is None and catalogue.config.settings.log_format != "text":
        setup_logging(catalogue.config.settings.log_format, args.verbose, args.command in SERVICES)


def cmd_run(args: argparse.Namespace) -> int:
    """The service (harvester.schedule): scheduler, run pool and API in one process until SIGTERM/SIGINT."""
    from .harvester.schedule import HarvestService

    catalogue = Catalogue.open(args.config, args.data_dir, args.backend)
    _log_format_from(catalogue, args)
    if not args.no_api:
        _warn_if_minted_elsewhere(catalogue.config.settings, args.host, args.port)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()  # uvicorn, while it serves, takes these signals itself and passes them on when it stops

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    ended = True
    try:
        with catalogue.harvesting():
            service = HarvestService(catalogue.config, catalogue.store, catalogue.backend)
            caught_up = service.start(catch_up=not args.no_catch_up)
            scheduled = service.describe()
            log.info(
                "fedcat run: %d sources scheduled, %d caught up%s",
                len(scheduled),
                len(caught_up),
                "" if args.no_api else f", API on http://{args.host}:{args.port}",
                extra={"event": "start", "scheduled": scheduled, "caught_up": caught_up, "pid": os.getpid()},
            )
            on_demand = [s.id for s in catalogue.config.sources if s.enabled and not s.schedule]
            if on_demand:
                # manual, as CKAN's and udata's harvest sources are by default: say so, so nobody waits
                how = (
                    "POST /api/sources/{id}/harvest with the admin token"
                    if catalogue.config.settings.admin_token
                    else "POST /api/sources/{id}/harvest, once settings.admin_token or FEDCAT_ADMIN_TOKEN "
                    "is set"
                )
                log.info(
                    "fedcat run: %d enabled source(s) without a `schedule`, harvested on demand only "
                    "(%s; at start-up too if they never ran): %s",
                    len(on_demand),
                    how,
                    ", ".join(on_demand),
                    extra={"event": "on_demand", "sources": on_demand},
                )
            try:
                if args.no_api:
                    while not stop.wait(1.0):
                        pass
                else:
                    serve(catalogue, args.host, args.port, harvester=service)
            finally:
                log.info("fedcat run: stopping (runs end their current page)", extra={"event": "stopping"})
                ended = service.shutdown()
                log.log(
                    logging.INFO if ended else logging.WARNING,
                    "fedcat run: stopped%s",
                    "" if ended else " (runs still in a request were left)",
                    extra={"event": "stop"},
                )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if ended:
            catalogue.close()
    if not ended:  # worker threads still inside a request: their runs are marked, leave without them
        logging.shutdown()
        os._exit(0)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo.run import run_demo

    return run_demo(
        args.port,
        args.data_dir,
        serve_api=not args.no_serve,
        run_harvest=run_harvest,
        print_summary=print_summary,
        serve=serve,
    )


def _ago(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return ""
    seconds = max(0, int((now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds()))
    return _duration(seconds) + " ago"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def source_status(catalogue: Catalogue, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per source: its last run (status, age, duration, counts), last complete run, next run, last error."""
    from .harvester.schedule import next_fire, parse_time

    now = now or datetime.now(UTC)
    configured = {s.id: s for s in catalogue.config.sources}
    rows = []
    stored_sources = catalogue.store.sources()
    harvested = {s["id"] for s in stored_sources}
    # configured and never harvested into this data dir: listed too, with no run
    never = [
        {"id": s.id, "type": s.type, "datasets": 0} for s in catalogue.config.sources if s.id not in harvested
    ]
    for stored in sorted([*stored_sources, *never], key=lambda s: s["id"]):
        source = configured.get(stored["id"])
        runs = catalogue.store.runs(stored["id"], limit=100)
        last = catalogue.store.run(runs[0]["id"]) if runs else None
        complete = next((r for r in runs if r["status"] == "complete"), None)
        error = None
        if last is not None:
            error = last["message"]
            if not error and last["errors"]:  # a run that went through, but with records it could not map
                error = f"{last['failed']} records failed, e.g. {last['errors'][0]['error']}"
        upcoming = next_fire(source, now) if source is not None and source.enabled else None
        rows.append(
            {
                "source": stored["id"],
                "type": stored["type"],
                "enabled": bool(source and source.enabled),
                "datasets": stored["datasets"],
                "last_run": None
                if last is None
                else {
                    "id": last["id"],
                    "status": last["status"],
                    "started_at": last["started_at"],
                    "ended_at": last["ended_at"],
                    "age_seconds": int((now - parse_time(last["started_at"])).total_seconds()),
                    "duration_seconds": int(
                        (
                            (parse_time(last["ended_at"]) if last["ended_at"] else now)
                            - parse_time(last["started_at"])
                        ).total_seconds()
                    ),
                    "counts": {
                        k: last[k]
                        for k in ("pages", "seen", "created", "updated", "unchanged", "withdrawn", "failed")
                    },
                },
                "last_complete_at": complete["ended_at"] if complete else None,
                "next_run_at": upcoming.isoformat().replace("+00:00", "Z") if upcoming else None,
                "last_error": error,
            }
        )
    return rows


def _search_line(search: dict[str, Any]) -> str:
    """ "Search: elasticsearch green, generation …" (or why it does not answer)."""
    line = f"Search: {search['backend']} {search['status']}"
    if search.get("generation"):
        line += f", generation {search['generation']}" + (
            " (outdated: run `fedcat reindex`)" if search.get("outdated") else ""
        )
    if search.get("facets"):
        line += ", facets counted " + (
            "natively" if search["facets"] == "native" else f"by {search['facets']}"
        )
    if search.get("error"):
        line += f": {search['error']}"
    return line


def cmd_status(args: argparse.Namespace) -> int:
    catalogue = Catalogue.open(args.config, args.data_dir, args.backend, writer=False)
    _warn_if_disagreeing(catalogue.disagreement())
    try:
        rows = source_status(catalogue)
        search = catalogue.backend.health()
    finally:
        catalogue.close()
    if args.output == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    now = datetime.now(UTC)
    table = Table(title="Sources")
    for column in ("source", "datasets", "last run", "status", "started", "took", "pages",
                   "new/upd/wdr", "failed", "last complete", "next run (UTC)"):  # fmt: skip
        table.add_column(column, no_wrap=True)
    errors = []
    for row in rows:
        name = row["source"] if row["enabled"] else f"{row['source']} [dim](disabled)[/]"
        next_run = (row["next_run_at"] or "")[:16].replace("T", " ")
        run = row["last_run"]
        if run is None:
            table.add_row(name, str(row["datasets"]), "never", *[""] * 7, next_run)
            continue
        counts = run["counts"]
        took = _duration(run["duration_seconds"]) + (" so far" if run["status"] == "running" else "")
        table.add_row(
            name,
            str(row["datasets"]),
            str(run["id"]),
            f"[{STATUS_STYLE[run['status']]}]{run['status']}[/]",
            _ago(run["started_at"], now),
            took,
            str(counts["pages"]),
            f"+{counts['created']} ~{counts['updated']} -{counts['withdrawn']}",
            str(counts["failed"]),
            _ago(row["last_complete_at"], now) or "never",
            next_run,
        )
        if row["last_error"]:
            errors.append(f"[bold]{row['source']}[/] (run {run['id']}, {run['status']}): {row['last_error']}")
    out.print(table)
    out.print(_search_line(search), highlight=False)
    if errors:  # below the table, whole: the message is what an administrator reads first
        out.print("[bold]Last errors[/]")
        for line in errors:
            out.print("  " + line, highlight=False)
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from .indexer.documents import rebuild_index

    catalogue = Catalogue.open(args.config, args.data_dir, args.backend, catch_up=False)
    try:
        with catalogue.harvesting(), _index_progress(catalogue.store.count()) as advance:
            # Elasticsearch: a new generation, switched to at the end; searches use the old one meanwhile
            count = rebuild_index(
                catalogue.store, catalogue.backend, progress=advance, settings=catalogue.config.settings
            )
    finally:
        catalogue.close()
    console.print(f"indexed {count} records")
    return 0


@contextmanager
def _index_progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (records indexed of the store's live records)."""
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("indexing", total=total)
        yield lambda n: bar.advance(task, n)


def cmd_remap(args: argparse.Namespace) -> int:
    from .harvester.mapping import RemapReport, remap
    from .indexer.documents import sync_index
    from .indexer.sparql import sync_sparql

    catalogue = Catalogue.open(args.config, args.data_dir, args.backend)
    try:
        config, store = catalogue.config, catalogue.store
        sources = [config.source(source_id) for source_id in dict.fromkeys(args.sources)] or [
            s for s in config.sources if s.enabled
        ]  # unknown ids: a clear error before any work
        total = sum(store.count(s.id) for s in sources)
        with Progress(TextColumn("re-mapping"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as bar:  # fmt: skip
            task = bar.add_task("remap", total=total)
            before: dict[str, int] = {}

            def advance(source_id: str, done: int) -> None:
                bar.advance(task, done - before.get(source_id, 0))
                before[source_id] = done

            reports = remap(store, config.settings, sources, progress=advance)
        with console.status("bringing the index up to date"):
            sync_index(store, catalogue.backend, settings=config.settings)
            sync_sparql(store, config)
    finally:
        catalogue.close()
    table = Table(title="Re-mapped")
    for column in ("source", "records", "changed", "unchanged", "failed", "records/s"):
        table.add_column(column, justify="left" if column == "source" else "right")
    whole = RemapReport()
    for source_id, report in reports.items():
        whole.add(report)
        rate = report.read / report.seconds if report.seconds else 0
        table.add_row(source_id, str(report.read), str(report.changed), str(report.unchanged),
                      str(report.failed), f"{rate:,.0f}")  # fmt: skip
    out.print(table)
    for fedcat_id, error in whole.errors[:20]:
        console.print(f"[yellow]{fedcat_id}[/yellow]: {error}", highlight=False)
    console.print(
        f"{whole.read} records re-mapped: {whole.changed} changed (written, the views caught up),"
        f" {whole.unchanged} unchanged, {whole.failed} failed"
    )
    return 1 if whole.failed else 0


def _store_only(args: argparse.Namespace) -> tuple[Any, Any, Path]:
    """The config and the record store, without the search index (export and validation read the store)."""
    from .harvester.sources import load_config
    from .store import Store

    config = load_config(args.config or default_config())
    data_dir = Path(args.data_dir or default_data_dir())
    if not (data_dir / "fedcat.db").is_file():
        raise RuntimeError(f"no fedcat store in {data_dir}: harvest first (fedcat harvest)")
    store = Store(data_dir / "fedcat.db")
    _warn_if_disagreeing(disagreement(config, store.sources(), data_dir))
    return config, store, data_dir


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export
    from .indexer.sparql import catalog_info_from_store

    config, store, _ = _store_only(args)
    try:
        info = catalog_info_from_store(store, config.settings.base_url, config)
        with console.status(f"exporting the catalogue as {args.rdf_format}"):
            if str(args.out) == "-":
                count = export(store.path, info, sys.stdout.buffer, args.rdf_format, workers=args.workers)
            else:
                with args.out.open("wb") as target:
                    count = export(store.path, info, target, args.rdf_format, workers=args.workers)
    finally:
        store.close()
    console.print(f"exported {count} datasets" + ("" if str(args.out) == "-" else f" to {args.out}"))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .indexer.sparql import catalog_info_from_store
    from .mappings.model import text_in
    from .store import feed
    from .validation import shacl

    config, store, data_dir = _store_only(args)
    try:
        try:
            choice = shacl.resolve_shapes(args.profile, args.shapes, data_dir)
            files = choice.files
            shapes = shacl.load_shapes(files, choice.label)
        except shacl.ShapesError as exc:
            console.print(f"[red]{exc}[/red]")
            return 2
        info = catalog_info_from_store(store, config.settings.base_url, config)
        total = min(store.count(), args.limit or store.count())
        as_of = feed.head(store)  # a record changed after this loses its result (store.shacl)
        with Progress(TextColumn("validating"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
            task = bar.add_task("validate", total=total)
            report = shacl.validate_store(
                store.path,
                info,
                shapes,
                args.profile,
                limit=args.limit,
                progress=lambda n: bar.advance(task, n),
                on_batch=lambda part: shacl.save_results(store, part, as_of),  # for the quality score
            )
        listed = [dataset for dataset, _ in report.worst(args.top)]
        titles = {i: text_in(r["dataset"].title) for i, r in store.datasets(listed).items()}
    finally:
        store.close()
    out.print(shacl.report_tables(report, files, titles, args.top))
    if args.report:
        args.report.write_bytes(shacl.report_json(report))
    return 1 if report.violations("fedcat") else 0


def cmd_install_shapes(args: argparse.Namespace) -> int:
    from .validation import shacl

    data_dir = Path(args.data_dir or default_data_dir())
    try:
        files = shacl.install_shapes(args.profile, data_dir, args.sources)
        shacl.load_shapes(files)  # they load as SHACL: `fedcat validate` will use them
    except shacl.ShapesError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    console.print(f"installed the official shapes {args.profile}: " + ", ".join(str(f) for f in files))
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    import csv
    import json

    from .api.quality import report
    from .mappings.quality import BAND_NAMES, DIMENSIONS

    catalogue = Catalogue.open(
        args.config, args.data_dir, args.backend
    )  # a writer: scores are brought up to date
    _warn_if_disagreeing(catalogue.disagreement())
    try:
        names = {s.id: s.name for s in catalogue.config.sources}
        known = set(names) | {row["id"] for row in catalogue.store.sources()}
        unknown = [s for s in args.source or () if s not in known]
        if unknown:  # an unknown source would list no group, silently
            raise RuntimeError(
                f"--source: unknown source {', '.join(unknown)}; sources are {', '.join(sorted(known)) or 'none'}"
            )
        body = report(catalogue.store, args.group_by, args.source, names)
    finally:
        catalogue.close()
    if args.output == "json":
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    columns = ["key", "label", "datasets", "mean", "min", "max", "band", *BAND_NAMES, *DIMENSIONS]
    rows = [[g["key"], g["label"], g["datasets"], g["mean"], g["min"], g["max"], g["band"],
             *(g["bands"][b] for b in BAND_NAMES), *(g["dimensions"][d] for d in DIMENSIONS)]
            for g in body["groups"]]  # fmt: skip
    if args.output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([args.group_by if c == "key" else c for c in columns])
        writer.writerows(rows)
        return 0
    # a terminal gets the columns that fit beside the names (all 17 folded every cell, "sufficien/t")
    shown = ["key", "label", "datasets", "mean", "band", *DIMENSIONS]
    table = Table(
        title=f"Metadata quality by {args.group_by} (MQA score, max {body['max_points']})",
        caption="min, max and datasets per band: --output csv or json",
    )
    for column in shown:
        names_it = column in ("key", "label")
        table.add_column(args.group_by if column == "key" else column, overflow="fold", no_wrap=not names_it)
    for row in rows:
        table.add_row(*(str(row[columns.index(c)]) for c in shown))
    out.print(table)
    return 0


def _percent(share: float | None) -> str:
    return "" if share is None else f"{share:.0%}"


def _families_cell(row: dict) -> str:
    present = ", ".join(f"{family} {n}" for family, n in row["families"].items())
    missing = f"[red]missing: {', '.join(row['families_missing'])}[/]" if row["families_missing"] else ""
    return "; ".join(part for part in (present, missing) if part)


def cmd_duplicates(args: argparse.Namespace) -> int:
    import csv

    from .api.duplicates import source_pair_rows
    from .federation import view
    from .federation.areas import areas_for
    from .federation.rules import RulesError
    from .store.federation import FederationTables

    config, store, _ = _store_only(args)
    try:
        known = {s.id for s in config.sources} | {s["id"] for s in store.sources()}
        if args.source is not None and args.source not in known:
            raise RuntimeError(f"no source {args.source!r} (known: {', '.join(sorted(known)) or 'none'})")
        with console.status("clustering what changed"):
            view.catch_up(store, config.settings, areas_for(config.settings.bodies))
        tables = FederationTables(store)
        pairs = source_pair_rows(tables, args.source)
        clusters = tables.review(args.source, args.limit or -1)  # SQLite: LIMIT -1 is no limit
    except RulesError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        return 2
    finally:
        store.close()
    if args.output == "json":
        print(json.dumps({"pairs": pairs, "clusters": clusters}, ensure_ascii=False, indent=2))
        return 0
    if args.output == "csv":  # one row per copy: the cluster, the copy, the strongest rule linking it
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["cluster", "rank", "source", "id", "uri", "rule", "confidence"])
        for c in clusters:
            best: dict[str, dict[str, Any]] = {}
            for link in c["evidence"]:
                for end in (link["a"], link["b"]):
                    if end not in best or link["confidence"] > best[end]["confidence"]:
                        best[end] = link
            for rank, copy in enumerate(c["sources"]):
                link = best.get(copy["id"], {})
                writer.writerow(
                    [
                        c["id"],
                        rank,
                        copy["source"],
                        copy["id"],
                        copy["uri"] or "",
                        link.get("rule", ""),
                        link.get("confidence", ""),
                    ]
                )
        return 0
    table = Table(title="Sources sharing datasets")
    for column in ("source", "other", "shared", "share of source", "share of other"):
        table.add_column(column)
    for p in pairs:
        table.add_row(
            p["a"], p["b"], str(p["shared"]), f"{p['share_of_a']:.0%}" if p["share_of_a"] is not None else "",
            f"{p['share_of_b']:.0%}" if p["share_of_b"] is not None else "",
        )  # fmt: skip
    console.print(table)
    table = Table(title=f"Clusters ({len(clusters)} shown)")
    for column in ("cluster", "copies", "evidence"):
        table.add_column(column)
    for c in clusters:
        table.add_row(
            c["id"],
            "\n".join(f"{m['source']}: {m['id']}" for m in c["sources"]),
            "\n".join(f"{e['rule']} {e['confidence']:.2f}" for e in c["evidence"]),
        )
    console.print(table)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    import csv

    from .audit.registry import Registry, RegistryError
    from .audit.report import (
        AUDIT_COLUMNS,
        FilterError,
        audit_filters,
        published_by_body,
        report,
        with_discovered,
    )

    config, store, _ = _store_only(args)
    try:
        paths = args.bodies or config.settings.bodies
        if not paths:
            raise RuntimeError("no registry of public bodies: give --bodies FILE… or set settings.bodies")
        with console.status("loading the registry of public bodies"):
            registry = Registry.load(paths)
        filters = audit_filters(
            registry, args.kind, args.departement, args.within, args.obligated_only, args.not_publishing,
            args.has, args.missing, args.publication,
        )  # fmt: skip
        jurisdictions = {s.id: s.jurisdiction.key for s in config.sources if s.jurisdiction}
        configured = [(s.id, s.type, s.url) for s in config.sources]
        with console.status("matching publishers to bodies"):
            published = published_by_body(store, registry, jurisdictions, configured)
            if args.discovered is not None:
                found = json.loads(args.discovered.read_text(encoding="utf-8"))
                if not isinstance(found, list):
                    raise RuntimeError(
                        f"{args.discovered}: expected the output of `fedcat discover --format json`"
                    )
                published = with_discovered(published, found)
            body = report(registry, published, filters)
    except (RegistryError, FilterError) as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        return 2
    finally:
        store.close()
    for problem in registry.problems[:10]:
        console.print(f"[yellow]registry: {problem}[/yellow]", highlight=False)
    if len(registry.problems) > 10:
        console.print(
            f"[yellow]registry: {len(registry.problems) - 10} more problems (--format json lists them)[/]"
        )
    waiting = [r for r in body["items"] if r["not_harvested_yet"]]
    limit = args.limit if args.limit is not None else (50 if args.output == "table" else 0)
    rows = body["items"][:limit] if limit > 0 else body["items"]
    if args.output == "json":
        print(json.dumps({**body, "items": rows}, ensure_ascii=False, indent=2))
        return 0
    if args.output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(AUDIT_COLUMNS)
        for row in rows:
            row = {**row, "families": [f"{f}:{n}" for f, n in row["families"].items()]}
            writer.writerow(["|".join(row[c]) if isinstance(row[c], list) else row[c] for c in AUDIT_COLUMNS])
        return 0
    s = body["summary"]
    coverage = _percent(s["coverage"]) or "n/a"
    table = Table(
        caption="pub.: publishing; lic., fmt: share with an open licence, in an open machine-readable format; "
        "MQA: mean metadata quality (0-405); HVD: high-value datasets; families: datasets per family, "
        "missing: those an obligated body is expected to publish and does not",
        title=f"Publication obligations: {s['obligated']} bodies obligated, {s['obligated_publishing']} publishing "
        f"({coverage}); {s['obligation_unknown']} unknown, {s['not_obligated']} not obligated",
    )
    # 160 columns when piped: the short figures on one line each, the name and the obligation's why folded
    for column in ("body", "name", "population", "agents", "obligated: why", "pub.", "datasets", "modified",
                   "lic.", "fmt", "MQA", "HVD", "families"):  # fmt: skip
        wrapped = column in ("name", "obligated: why", "families")
        table.add_column(column, overflow="fold", no_wrap=not wrapped, min_width=14 if wrapped else None)
    style = {"yes": "bold", "no": "dim", "unknown": "yellow"}
    for r in rows:
        table.add_row(
            r["id"], r["name"],
            "" if r["population"] is None else f"{r['population']:,}",
            "" if r["agents"] is None else f"{r['agents']:g}",
            f"[{style[r['obligated']]}]{r['obligated']}[/]: {r['why']}",
            "[green]yes[/]" if r["publishing"] else ("[red]no[/]" if r["obligated"] == "yes" else "no"),
            str(r["datasets"]), r["last_modified"] or "",
            _percent(r["open_licence_share"]), _percent(r["open_format_share"]),
            "" if r["quality_mean"] is None else f"{r['quality_mean']:g}", str(r["hvd_datasets"]),
            _families_cell(r),
        )  # fmt: skip
    out.print(table)
    if len(body["items"]) > len(rows):
        out.print(f"… {len(body['items']) - len(rows)} more bodies: --limit 0, or --format csv")
    out.print(
        f"{s['records_matched']} of {s['records']} live records matched to a body; "
        f"{s['unmatched_publishers']} publisher(s) matched to no body"
    )
    by_family = Table(title="Expected dataset families among the listed obligated bodies")
    for column in ("family", "expected of", "bodies having it", "missing", "datasets"):
        by_family.add_column(column, overflow="fold")
    expected = {f["id"]: ", ".join(f["expected"]) for f in body["families"]}
    for f in s["families"]:
        by_family.add_row(
            f"{f['id']}: {f['label']}", expected[f["id"]] or "(recommended)",
            f"{f['having']} of {f['obligated']} ({_percent(f['coverage']) or 'n/a'})", str(f["missing"]),
            str(f["datasets"]),
        )  # fmt: skip
    out.print(by_family)
    if waiting:
        elsewhere = Table(
            title="Where bodies publish that fedcat does not harvest yet (from `fedcat discover --save`)"
        )
        for column in ("body", "name", "type", "url", "found", "evidence"):
            elsewhere.add_column(column, overflow="fold")
        for r in waiting:
            for place in r["publishes_on"]:
                if not place["harvested"]:
                    elsewhere.add_row(
                        r["id"], r["name"], place["type"], place["url"], (place["found_at"] or "")[:10],
                        "confirmed" if place["confirmed"] else "pattern only",
                    )  # fmt: skip
        out.print(elsewhere)
    if body["unmatched"]:
        unmatched = Table(title="Publishers matched to no body (most datasets first)")
        for column in ("source", "publisher", "identifier", "datasets", "why"):
            unmatched.add_column(column, overflow="fold")
        for u in body["unmatched"][:20]:
            unmatched.add_row(u["source"], u["publisher"], u["identifier"], str(u["datasets"]), u["why"])
        out.print(unmatched)
    return 0


def cmd_linkcheck(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from .harvester.http import HttpSettings, _is_private
    from .harvester.linkcheck import linkcheck
    from .indexer.documents import sync_index

    catalogue = Catalogue.open(args.config, args.data_dir, args.backend)
    try:
        config = catalogue.config
        wanted = args.sources or [s.id for s in config.sources if s.enabled]
        sources = {s.id: s for s in config.sources}
        for source_id in wanted:
            config.source(source_id)  # unknown ids: a clear error before any request
        with Progress(TextColumn("link check"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:  # fmt: skip
            task = progress.add_task("links", total=None)
            result = linkcheck(
                catalogue.store,
                wanted,
                rate=args.rate,
                concurrency=args.concurrency,
                timeout=args.timeout,
                max_age=timedelta(days=args.max_age),
                settings=HttpSettings(private_networks=config.settings.private_networks),
                # a source on a private network may link to it; others may not make fedcat probe it
                allow_private=lambda sid: _is_private(urlsplit(sources[sid].url).hostname or ""),
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        sync_index(
            catalogue.store, catalogue.backend, settings=catalogue.config.settings
        )  # re-score the checked records
    finally:
        catalogue.close()
    c = result.counts
    console.print(
        f"{c['urls']} URLs: {c['checked']} checked ({c['ok']} reachable, {c['failed']} not), "
        f"{c['skipped']} checked less than {args.max_age:g} days ago"
    )
    table = Table(title="Link check answers")
    table.add_column("answer")
    table.add_column("URLs")
    for answer, count in result.statuses.most_common():
        table.add_row(answer, str(count))
    out.print(table)
    return 0


def _body_label(report: dict[str, Any]) -> str:
    return f"{report['body']['name']} ({report['body']['id']}): " if report.get("body") else ""


def cmd_discover(args: argparse.Namespace) -> int:
    import yaml

    from .config import JURISDICTION_LEVELS
    from .harvester.crawl import discover
    from .harvester.http import HttpSettings
    from .harvester.sources import load_config

    user_agent = HttpSettings().user_agent
    networks: tuple[str, ...] = ()
    path = args.config or (Path(os.environ["FEDCAT_CONFIG"]) if os.environ.get("FEDCAT_CONFIG") else None)
    if path is not None:
        settings = load_config(path).settings
        networks = tuple(settings.private_networks)
        if settings.contact:
            user_agent = f"{user_agent.rstrip(')')}; {settings.contact})"
    sites: list[tuple[str, Any]] = [(url, None) for url in args.urls]
    if args.bodies:
        from .audit.registry import Registry

        registry = Registry.load(args.bodies)
        for problem in registry.problems[:20]:
            console.print(f"[yellow]{problem}[/yellow]", highlight=False)
        sites += [(b.website, b) for b in registry.bodies.values() if b.website]
    if not sites:
        raise RuntimeError("fedcat discover: give websites (URL…) or bodies files with a `website` column")
    for url, _ in sites:
        if not url.startswith(("http://", "https://")):
            raise RuntimeError(f"fedcat discover: {url!r} is not an http(s) address")
    reports = []
    for url, body in sites:
        report = discover(
            url, user_agent, probes=not args.no_probe, max_pages=args.max_pages, private_networks=networks
        )
        if body is not None:
            report["body"] = {"id": body.id, "name": body.name}
            for entry in report["sources"]:  # the body the source would be attributed to
                if body.id.split(":")[0] in JURISDICTION_LEVELS:
                    level, code = body.id.split(":", 1)
                    entry["jurisdiction"] = {"level": level, "code": code}
        reports.append(report)
    if args.save:
        from .store import Store
        from .store.discovery import save

        data_dir = Path(args.data_dir or default_data_dir())
        store = Store(data_dir / "fedcat.db")
        try:
            for report in reports:
                save(store, (report.get("body") or {}).get("id", ""), report)
        finally:
            store.close()
        console.print(f"saved in {data_dir}: {len(reports)} website(s)", highlight=False)
    if args.output == "json":
        print(json.dumps(reports, ensure_ascii=False, indent=2))
        return 0
    if args.output == "yaml":  # entries to review and paste into sources.yaml: fedcat adds none by itself
        entries = [
            {k: v for k, v in e.items() if k in ("id", "name", "type", "url", "jurisdiction")}
            for r in reports
            for e in r["sources"]
        ]
        sys.stdout.write(yaml.safe_dump({"sources": entries}, allow_unicode=True, sort_keys=False))
        return 0
    for report in reports:
        table = Table(
            title=f"{_body_label(report)}{report['url']}: where it publishes"
            + ("" if report["complete"] else " (crawl capped)")
        )
        for column in ("type", "url", "found on", "evidence"):
            table.add_column(column, overflow="fold")
        for entry in report["sources"]:
            probe = entry.get("probe") or "pattern only"
            table.add_row(
                entry["type"],
                entry["url"],
                entry["found_on"],
                f"confirmed: {probe}" if entry.get("confirmed") else probe,
            )
        out.print(table)
        if not report["sources"]:
            console.print(
                f"{report['url']}: no catalogue, portal or schema.org Dataset found", highlight=False
            )
    return 0


REFERENCE_START = (
    "<!-- config-reference: generated by `fedcat config --reference --write docs/configuration.md` -->"
)
REFERENCE_END = "<!-- config-reference: end -->"


def cmd_config(args: argparse.Namespace) -> int:
    from . import config
    from .harvester.adapters import source_options
    from .harvester.sources import load_config

    if not args.reference:
        path = args.config or default_config()
        loaded = load_config(path)
        enabled = sum(1 for s in loaded.sources if s.enabled)
        console.print(f"{path}: valid, {len(loaded.sources)} sources ({enabled} enabled)", highlight=False)
        return 0
    reference = config.reference(source_options())
    if args.write is None:
        sys.stdout.write(reference)
        return 0
    text = args.write.read_text(encoding="utf-8")
    start, end = text.find(REFERENCE_START), text.find(REFERENCE_END)
    if start < 0 or end < start:
        raise RuntimeError(f"{args.write} has no {REFERENCE_START} … {REFERENCE_END} block to replace")
    start += len(REFERENCE_START)
    args.write.write_text(text[:start] + "\n" + reference + text[end:], encoding="utf-8")
    console.print(f"wrote the configuration reference into {args.write}")
    return 0


COMMANDS = {
    "harvest": cmd_harvest,
    "serve": cmd_serve,
    "run": cmd_run,
    "demo": cmd_demo,
    "status": cmd_status,
    "reindex": cmd_reindex,
    "remap": cmd_remap,
    "quality": cmd_quality,
    "linkcheck": cmd_linkcheck,
    "export": cmd_export,
    "validate": cmd_validate,
    "install-shapes": cmd_install_shapes,
    "audit": cmd_audit,
    "discover": cmd_discover,
    "duplicates": cmd_duplicates,
    "config": cmd_config,
}

if __name__ == "__main__":
    sys.exit(main())
