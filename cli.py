"""The `fedcat` command: harvest, serve, demo, status, reindex."""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .catalogue import BACKENDS, Catalogue, default_config, default_data_dir
from .harvester.run import RunResult, harvest
from .harvester.sources import ConfigError

console = Console(stderr=True)
# tables go to stdout; when piped, rich would squeeze them into 80 columns
out = Console(width=None if sys.stdout.isatty() else 160)
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
        help="search backend (default: $FEDCAT_BACKEND or embedded)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedcat", description="Federated open-data catalogue aggregator.")
    parser.add_argument("--version", action="version", version=f"fedcat {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
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
    p.add_argument("--port", type=int, default=8000)
    _common(p)

    p = commands.add_parser("demo", help="start a local example portal, harvest it and serve the API")
    p.add_argument("--port", type=int, default=8000, help="API port (the example portal takes a free port)")
    p.add_argument("--data-dir", type=Path, default=None, help="default: a fresh temporary directory")
    p.add_argument(
        "--no-serve", action="store_true", help="harvest the demo portal, print the summary and exit"
    )

    p = commands.add_parser("status", help="each source's last run, its age, counts and last error")
    _common(p)

    p = commands.add_parser("reindex", help="rebuild the search index from the store")
    _common(p)

    p = commands.add_parser(
        "quality", help="metadata quality (data.europa.eu MQA score) per source or publisher"
    )
    p.add_argument("--group-by", choices=("source", "publisher", "dataset"), default="source")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", dest="output")
    p.add_argument("--source", action="append", default=None, metavar="SOURCE_ID", help="only this source")
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
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (one per host at a time)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")
    p.add_argument(
        "--max-age", type=float, default=7.0, help="re-check URLs checked more than this many days ago"
    )
    _common(p)
    return parser


def _rate(text: str) -> float:
    value = float(text.strip().removesuffix("/s"))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"the rate must be positive, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
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


def run_harvest(
    catalogue: Catalogue, source_ids: Sequence[str] = (), *, full: bool = False, force_withdraw: bool = False
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
        tasks: dict[str, int] = {}

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
            (r.message or "")[:200],
        )
    out.print(table)


def cmd_harvest(args: argparse.Namespace) -> int:
    catalogue = Catalogue.open(args.config, args.data_dir, args.backend)
    try:
        results = run_harvest(catalogue, args.sources, full=args.full, force_withdraw=args.force_withdraw)
    finally:
        catalogue.close()
    print_summary(results)
    return 1 if any(r.status == "failed" for r in results) else 0


def serve(catalogue: Catalogue, host: str, port: int) -> None:
    import uvicorn

    from .api.app import create_app

    app = create_app(catalogue.store, catalogue.backend, catalogue.config)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def cmd_serve(args: argparse.Namespace) -> int:
    catalogue = Catalogue.open(args.config, args.data_dir, args.backend, writer=False)
    console.print(f"fedcat API on http://{args.host}:{args.port}/api/datasets (docs: /docs)")
    try:
        serve(catalogue, args.host, args.port)
    finally:
        catalogue.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo.run import run_demo

    return run_demo(args.port, args.data_dir, serve_api=not args.no_serve)


def cmd_status(args: argparse.Namespace) -> int:
    catalogue = Catalogue.open(args.config, args.data_dir, args.backend, writer=False)
    table = Table(title="Sources")
    for column in (
        "source",
        "type",
        "datasets",
        "last run",
        "status",
        "ended",
        "created",
        "updated",
        "withdrawn",
        "failed",
        "message",
    ):
        table.add_column(column, overflow="fold")
    for source in catalogue.store.sources():
        run = catalogue.store.run(source["last_run_id"]) if source["last_run_id"] else None
        if run is None:
            table.add_row(
                source["id"], source["type"], str(source["datasets"]), "never", "", "", "", "", "", "", ""
            )
            continue
        table.add_row(
            source["id"],
            source["type"],
            str(source["datasets"]),
            str(run["id"]),
            f"[{STATUS_STYLE[run['status']]}]{run['status']}[/]",
            run["ended_at"] or "",
            *(str(run[k]) for k in ("created", "updated", "withdrawn", "failed")),
            (run["message"] or "")[:200],
        )
    catalogue.close()
    out.print(table)
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from .indexer.documents import rebuild_index

    catalogue = Catalogue.open(args.config, args.data_dir, args.backend)
    count = rebuild_index(catalogue.store, catalogue.backend)
    catalogue.close()
    console.print(f"indexed {count} records")
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    import csv
    import json

    from .api.quality import report
    from .mappings.quality import BAND_NAMES, DIMENSIONS

    catalogue = Catalogue.open(
        args.config, args.data_dir, args.backend
    )  # a writer: scores are brought up to date
    try:
        names = {s.id: s.name for s in catalogue.config.sources}
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
    table = Table(title=f"Metadata quality by {args.group_by} (MQA score, max {body['max_points']})")
    for column in columns:
        table.add_column(args.group_by if column == "key" else column, overflow="fold")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    out.print(table)
    return 0


def cmd_linkcheck(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from .harvester.http import _is_private
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
                # a source on a private network may link to it; others may not make fedcat probe it
                allow_private=lambda sid: _is_private(urlsplit(sources[sid].url).hostname or ""),
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        sync_index(catalogue.store, catalogue.backend)  # re-score the checked records
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


COMMANDS = {
    "harvest": cmd_harvest,
    "serve": cmd_serve,
    "demo": cmd_demo,
    "status": cmd_status,
    "reindex": cmd_reindex,
    "quality": cmd_quality,
    "linkcheck": cmd_linkcheck,
}

if __name__ == "__main__":
    sys.exit(main())
