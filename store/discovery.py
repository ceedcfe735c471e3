"""What `fedcat discover --save` found on websites, kept for the audit's "where it publishes".

A crawl of a website (for a registry body, or for no body: '') writes one `discovery_crawls` row and one
`discoveries` row per catalogue, portal or website found. A complete crawl replaces what the last one
found on that website (a link removed from the site is no longer claimed); a capped crawl only adds, so
that a crawl cut short never forgets what a full one saw. `found_at` keeps the date of the first crawl
that found a place.
"""

from __future__ import annotations

import json
from typing import Any

from .core import Store, now


def save(store: Store, body: str, report: dict[str, Any]) -> None:
    """Keep one website's discovery report (harvester.crawl.discover's answer, probes included)."""
    website, at = report["url"], now()
    with store.write() as db:
        if report["complete"]:
            kept = {(s["type"], s["url"]) for s in report["sources"]}
            for kind, url in db.execute(
                "SELECT type, url FROM discoveries WHERE body = ? AND website = ?", (body, website)
            ).fetchall():
                if (kind, url) not in kept:
                    db.execute(
                        "DELETE FROM discoveries WHERE body = ? AND type = ? AND url = ?", (body, kind, url)
                    )
        db.execute(
            "INSERT OR REPLACE INTO discovery_crawls VALUES (?, ?, ?, ?, ?)",
            (body, website, at, int(bool(report["complete"])), json.dumps(report.get("reasons") or [])),
        )
        for found in report["sources"]:
            entry = {k: found[k] for k in ("id", "name", "type", "url", "jurisdiction") if k in found}
            db.execute(
                """INSERT INTO discoveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (body, type, url) DO UPDATE SET website = excluded.website,
                    found_on = excluded.found_on, seen_at = excluded.seen_at,
                    confirmed = excluded.confirmed, probe = excluded.probe, entry = excluded.entry""",
                (
                    body,
                    website,
                    found["type"],
                    found["url"],
                    found.get("found_on") or website,
                    at,
                    at,
                    int(bool(found.get("confirmed"))),
                    found.get("probe") or "",
                    json.dumps(entry, ensure_ascii=False),
                ),
            )


def found_by_body(store: Store) -> dict[str, list[dict[str, Any]]]:
    """body id -> the places its website was found to link to, oldest finding first."""
    places: dict[str, list[dict[str, Any]]] = {}
    for row in store.db.execute(
        "SELECT body, website, type, url, found_on, found_at, seen_at, confirmed, probe, entry"
        " FROM discoveries WHERE body != '' ORDER BY body, found_at, type, url"
    ):
        places.setdefault(row["body"], []).append(
            {
                "type": row["type"],
                "url": row["url"],
                "website": row["website"],
                "found_on": row["found_on"],
                "found_at": row["found_at"],
                "seen_at": row["seen_at"],
                "confirmed": bool(row["confirmed"]),
                "probe": row["probe"],
                "entry": json.loads(row["entry"]),
            }
        )
    return places


def crawls_by_body(store: Store) -> dict[str, dict[str, Any]]:
    """body id -> its website's last crawl: {website, crawled_at, complete, reasons}."""
    return {
        row["body"]: {
            "website": row["website"],
            "crawled_at": row["crawled_at"],
            "complete": bool(row["complete"]),
            "reasons": json.loads(row["reasons"]),
        }
        for row in store.db.execute(
            "SELECT body, website, crawled_at, complete, reasons FROM discovery_crawls"
            " WHERE body != '' ORDER BY crawled_at"
        )
    }


def stamp(store: Store) -> tuple[int, int | None]:
    """Changes whenever a crawl is saved (a replaced row gets a new rowid): what a cached audit compares."""
    count, last = store.db.execute("SELECT count(*), max(rowid) FROM discovery_crawls").fetchone()
    return count, last
