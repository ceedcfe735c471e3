"""A CKAN-compatible, read-only Action API under `/api/3/action/`, so CKAN clients and harvesters
(ckanapi, CKAN's own harvester, fedcat's `ckan` adapter) read the federation.

Publishers are organizations (named by `compat.slug`), EU data themes are groups, keywords are tags,
distributions are resources. Actions take their parameters from the query string (GET) or a JSON object
body (POST, what ckanapi sends), and answer CKAN's envelope `{"help", "success", "result"}`; errors answer
`{"help", "success": false, "error": {"__type", "message"}}` with CKAN's statuses (400 unknown action,
403 every write action, 404 unknown id, 409 a refused parameter).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
import json
import re
from collections.abc import Callable, Coroutine
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from ..indexer.backend import FACET_SIZE, MAX_PAGE_SIZE, MAX_RESULT_WINDOW, SearchQuery
from ..mappings.model import Dataset, text_in
from ..store import Store
from ..store.federation import FederationTables
from . import compat
from .errors import ApiError, json_response
from .params import date_param, search_filters


class _CkanRoute(APIRoute):
    """A parameter refused before the action runs (one this API does not take: `reject_unknown_parameters`)
    still answers CKAN's shape, so CKAN clients read it as a validation error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def ckan_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                action = request.path_params.get("action", "")
                return _error(request, action, _invalid(exc.parameter or "request", exc.message))

        return ckan_handler


router = APIRouter(tags=["CKAN-compatible API (read-only)"], route_class=_CkanRoute)

CKAN_VERSION = "2.10.4"  # the Action API version these answers follow
EU_LICENCE = "http://publications.europa.eu/resource/authority/licence/"
# organization_list and group_list: names, or whole dicts (`all_fields`), a call (CKAN's defaults of
# ckan.group_and_organization_list_max and ckan.group_and_organization_list_all_fields_max)
LIST_MAX, LIST_ALL_FIELDS_MAX = 1000, 25
# CKAN field -> fedcat facet, for fq filters and facet.field
FIELDS = {
    "organization": "publisher",
    "tags": "keyword",
    "res_format": "format",
    "license_id": "licence",
    "groups": "theme",
}
# terms CKAN clients add that every fedcat package meets (CKAN itself adds +dataset_type:dataset)
ALWAYS_TRUE = {("dataset_type", "dataset"), ("state", "active"), ("private", "false"), ("capacity", "public")}
SORTS = {
    "metadata_modified desc": "modified",
    "metadata_modified asc": "-modified",
}
# field:value, field:"quoted value", field:[FROM TO *]
_FQ_TERM = re.compile(r'\s*(?:\+|AND\s+)?([A-Za-z_]+):("(?:[^"\\]|\\.)*"|\[[^\]]*\]|\S+)')
_WRITE = re.compile(
    r"_(create|update|patch|delete|purge|revise|reorder|member_create|member_delete)$|^(bulk_|member_)"
)


class CkanError(Exception):
    def __init__(self, status: int, kind: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.field = status, kind, message, field


def _help(request: Request, action: str) -> str:
    return str(request.base_url).rstrip("/") + f"/api/3/action/help_show?name={action}"


def _ok(request: Request, action: str, result: Any) -> Response:
    return json_response({"help": _help(request, action), "success": True, "result": result})


def _error(request: Request, action: str, exc: CkanError) -> Response:
    error: dict[str, Any] = {"__type": exc.kind, "message": exc.message}
    if exc.field:  # a validation error also names its field, as CKAN does: {"rows": ["…"]}
        error[exc.field] = [exc.message]
    return json_response({"help": _help(request, action), "success": False, "error": error}, exc.status)


def _invalid(field: str, message: str) -> CkanError:
    return CkanError(409, "Validation Error", f"{field}: {message}", field)


def _int(params: dict[str, Any], name: str, default: int, low: int = 0, high: int | None = None) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _invalid(name, f"Invalid integer {value!r}") from None
    if number < low or (high is not None and number > high):
        raise _invalid(name, f"must be between {low} and {high}" if high else f"must be at least {low}")
    return number


def _text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise _invalid(name, "must be text")
    return str(value).strip()


def _bool(params: dict[str, Any], name: str) -> bool:
    return str(params.get(name, "")).strip().lower() in ("true", "1", "yes", "on")


# --- the CKAN shapes of fedcat's records ------------------------------------------------------------------


def _organization(name: str, count: int | None = None) -> dict[str, Any]:
    org: dict[str, Any] = {
        "id": compat.slug(name),
        "name": compat.slug(name),
        "title": name,
        "display_name": name,
        "type": "organization",
        "is_organization": True,
        "state": "active",
        "approval_status": "approved",
        "description": "",
        "image_url": "",
    }
    if count is not None:
        org["package_count"] = count
    return org


def _group(uri: str, count: int | None = None) -> dict[str, Any]:
    code = uri.rstrip("/").rsplit("/", 1)[-1].lower()
    group: dict[str, Any] = {
        "id": code,
        "name": code,
        "title": compat.label(uri),
        "display_name": compat.label(uri),
        "description": "",
        "type": "group",
        "is_organization": False,
        "state": "active",
        "approval_status": "approved",
        "image_url": "",
        "uri": uri,
    }
    if count is not None:
        group["package_count"] = count
    return group


@cache
def _licence_ids() -> tuple[dict[str, str], str]:
    """licence URI -> CKAN's id of it, and the id of no licence (ckan-licences.yaml)."""
    table = yaml.safe_load((Path(__file__).parent / "ckan-licences.yaml").read_text(encoding="utf-8"))
    ids = {(key if ":" in key else EU_LICENCE + key): value for key, value in table["licences"].items()}
    return ids, table["no_licence"]


def licence_id(uri: str | None) -> str:
    """CKAN's short id of a licence (cc-by, odc-odbl, lov2…); one CKAN has no id for keeps its URI."""
    ids, none = _licence_ids()
    if not uri:
        return none
    return ids.get(uri, uri)


def package(fedcat_id: str, ds: Dataset) -> dict[str, Any]:
    """A record as a CKAN package dict (what package_show and package_search answer)."""
    publisher = compat.publisher_name(ds)
    org = _organization(publisher) if publisher else None
    resources = []
    for position, dist in enumerate(ds.distributions):
        url = (dist.download_url or dist.access_url or [""])[0]
        resources.append(
            {
                "id": f"{fedcat_id}-{position}",
                "package_id": fedcat_id,
                "position": position,
                "name": text_in(dist.title) or url,
                "description": text_in(dist.description),
                "url": url,
                "format": compat.label(dist.format) if dist.format else "",
                "mimetype": compat.media_type(dist.media_type),
                "size": dist.byte_size,
                "created": dist.issued,
                "last_modified": dist.modified,
                "license_id": licence_id(dist.licence) if dist.licence else None,
                "state": "active",
            }
        )
    tags = [{"name": k.value, "display_name": k.value, "state": "active"} for k in ds.keywords]
    return {
        "id": fedcat_id,
        "name": fedcat_id,
        "type": "dataset",
        "state": "active",
        "private": False,
        "title": text_in(ds.title),
        "notes": text_in(ds.description),
        "url": ds.landing_page[0] if ds.landing_page else "",
        # ckanext-dcat's subject: the dataset's IRI where it was first published, so copies stay linked
        "uri": ds.original_uri or ds.uri,
        "version": ds.version,
        "metadata_created": ds.issued,
        "metadata_modified": ds.modified,
        "license_id": licence_id(ds.licence),
        "license_title": compat.label(ds.licence) if ds.licence else (ds.licence_text or ""),
        "license_url": ds.licence if ds.licence and ds.licence.startswith("http") else "",
        "organization": org,
        "owner_org": org["id"] if org else None,
        "author": None,
        "maintainer": None,
        "groups": [_group(t) for t in ds.themes],
        "tags": tags,
        "num_tags": len(tags),
        "resources": resources,
        "num_resources": len(resources),
        "extras": [],
    }


# --- actions ---------------------------------------------------------------------------------------------


def _status_show(request: Request, params: dict[str, Any]) -> Any:
    return {
        "site_title": "fedcat",
        "site_description": "A federated catalogue of open data (read-only CKAN-compatible API)",
        "site_url": str(request.base_url).rstrip("/"),
        "ckan_version": CKAN_VERSION,
        "locale_default": "fr",
        "extensions": [],
    }


def _fq(fq: str) -> tuple[dict[str, list[str]], str | None]:
    """CKAN's `fq` (Solr terms ANDed) as fedcat facet filters, and a metadata_modified lower bound."""
    wanted: dict[str, list[str]] = {}
    modified_after = None
    rest = fq.strip()
    while rest:
        match = _FQ_TERM.match(rest)
        if not match:
            raise _invalid("fq", f"cannot read {rest!r}: give field:value terms")
        field, value = match[1], match[2]
        rest = rest[match.end() :].strip()
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                raise _invalid("fq", f"unterminated quoted value {value!r}") from None
        if field == "metadata_modified" and value.startswith("["):
            low = value[1:-1].split(" TO ", 1)[0].strip()
            if low != "*":
                modified_after = date_param("fq", low[:10])  # a Solr date: its day is what fedcat filters on
            continue
        if (field, value.lower()) in ALWAYS_TRUE:
            continue
        if field not in FIELDS:
            raise _invalid(
                "fq", f"unknown field {field!r}; fields are {', '.join(FIELDS)}, metadata_modified"
            )
        if field == "groups":
            value = value.upper()  # group names are EU theme codes, lowercased
        wanted.setdefault(FIELDS[field], []).append(value)
    return wanted, modified_after


def _facet_fields(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    names = value
    if isinstance(value, str):
        try:
            names = json.loads(value)
        except ValueError:
            names = [value]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _invalid("facet.field", 'give a JSON list of field names, e.g. ["organization", "tags"]')
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise _invalid("facet.field", f"unknown field {unknown[0]!r}; fields are {', '.join(FIELDS)}")
    return list(dict.fromkeys(names))


def _facet_item(field: str, value: str, count: int) -> dict[str, Any]:
    if field == "organization":
        return {"name": compat.slug(value), "display_name": value, "count": count}
    if field == "groups":
        group = _group(value)
        return {"name": group["name"], "display_name": group["title"], "count": count}
    if field == "license_id":
        return {"name": licence_id(value), "display_name": compat.label(value), "count": count}
    return {"name": compat.label(value), "display_name": compat.label(value), "count": count}


def _package_search(request: Request, params: dict[str, Any]) -> Any:
    rows = min(_int(params, "rows", 10), MAX_PAGE_SIZE)  # CKAN also caps rows silently (search.rows_max)
    start = _int(params, "start", 0)
    if start + rows > MAX_RESULT_WINDOW:
        raise _invalid("start", f"start + rows may not go past {MAX_RESULT_WINDOW}: narrow the search")
    sort = _text(params, "sort") or "score desc, metadata_modified desc"
    wanted, modified_after = _fq(_text(params, "fq"))
    if "publisher" in wanted:  # organizations are named by slug: the publishers they name
        names = []
        for value in wanted["publisher"]:
            org = compat.organization(request, value)
            names.append(org.value if org else value)
        wanted["publisher"] = names
    fields = _facet_fields(params.get("facet.field"))
    q = _text(params, "q")
    if len(q) > 1000:
        raise _invalid("q", "at most 1000 characters")
    if q in ("*:*", "*"):
        q = ""
    query = SearchQuery(
        q=q,
        filters=search_filters(**wanted),  # type: ignore[arg-type]
        modified_after=modified_after,
        sort=SORTS.get(" ".join(sort.lower().split()), "relevance"),
        facets=tuple(FIELDS[f] for f in fields),
    )
    found = compat.search_window(request, query, start, rows) if rows else compat.search(request, query)
    results = [package(h.id, h.dataset) for h in found.hits] if rows else []
    facet_limit = _int(params, "facet.limit", FACET_SIZE, low=-1)  # CKAN: -1 for all (here: FACET_SIZE)
    if facet_limit < 0:
        facet_limit = FACET_SIZE
    search_facets: dict[str, dict[str, Any]] = {}
    for field in fields:
        values = found.facets.get(FIELDS[field], [])[:facet_limit]
        items = [_facet_item(field, fv.value, fv.count) for fv in values]
        search_facets[field] = {"title": field, "items": items}
    return {
        "count": found.total,
        "sort": sort,
        "results": results,
        "facets": {f: {i["name"]: i["count"] for i in v["items"]} for f, v in search_facets.items()},
        "search_facets": search_facets,
    }


def _package_show(request: Request, params: dict[str, Any]) -> Any:
    wanted = _text(params, "id") or _text(params, "name_or_id")
    if not wanted:
        raise _invalid("id", "Missing value")
    store: Store = request.app.state.store
    record = store.record(wanted)
    if record is None or record["withdrawn_at"]:
        raise CkanError(404, "Not Found Error", "Not found")
    return package(record["id"], record["dataset"])


def _package_list(request: Request, params: dict[str, Any]) -> Any:
    """One name per dataset as package_search counts them: a cluster of copies by its canonical copy."""
    limit = _int(params, "limit", 0)
    offset = _int(params, "offset", 0)
    return FederationTables(request.app.state.store).canonical_id_page(offset, limit or None)


def _listed(params: dict[str, Any], items: list[dict[str, Any]]) -> list[Any]:
    """organization_list and group_list as CKAN answers them: sorted (`sort`: name, title or package_count,
    asc or desc; default title asc), a page of `limit` after `offset` (at most 1000 names, or 25 whole
    dicts with `all_fields`, CKAN's defaults), names or dicts."""
    all_fields = _bool(params, "all_fields")
    most = LIST_ALL_FIELDS_MAX if all_fields else LIST_MAX
    limit = _int(params, "limit", most, low=1, high=most)
    offset = _int(params, "offset", 0)
    sort = " ".join((_text(params, "sort") or "title asc").lower().split())
    field, _, direction = sort.partition(" ")
    if field not in ("name", "title", "package_count") or direction not in ("", "asc", "desc"):
        raise _invalid("sort", "sort by name, title or package_count, asc or desc")
    items = sorted(items, key=lambda item: (item[field], item["name"]), reverse=direction == "desc")
    chosen = items[offset : offset + limit]
    return chosen if all_fields else [item["name"] for item in chosen]


def _organization_list(request: Request, params: dict[str, Any]) -> Any:
    return _listed(params, [_organization(fv.value, fv.count) for fv in compat.publishers(request)])


def _organization_show(request: Request, params: dict[str, Any]) -> Any:
    wanted = _text(params, "id")
    if not wanted:
        raise _invalid("id", "Missing value")
    found = compat.organization(request, wanted)
    if found is None:
        raise CkanError(404, "Not Found Error", "Organization not found")
    return _organization(found.value, found.count)


def _group_list(request: Request, params: dict[str, Any]) -> Any:
    return _listed(params, [_group(fv.value, fv.count) for fv in compat.facet_values(request, "theme")])


def _tag_list(request: Request, params: dict[str, Any]) -> Any:
    """Every tag (CKAN pages none), by name; `query` keeps those starting with it."""
    prefix = _text(params, "query").lower()
    names = sorted(fv.value for fv in compat.facet_values(request, "keyword"))
    names = [n for n in names if n.lower().startswith(prefix)]
    if _bool(params, "all_fields"):
        return [{"id": n, "name": n, "vocabulary_id": None} for n in names]
    return names


ACTIONS: dict[str, Callable[[Request, dict[str, Any]], Any]] = {
    "status_show": _status_show,
    "package_search": _package_search,
    "package_show": _package_show,
    "package_list": _package_list,
    "organization_list": _organization_list,
    "organization_show": _organization_show,
    "group_list": _group_list,
    "tag_list": _tag_list,
}


async def _call(request: Request, action: str) -> Response:
    if action not in ACTIONS:
        if _WRITE.search(action):
            return _error(
                request,
                action,
                CkanError(
                    403, "Authorization Error", f"Access denied: fedcat's CKAN API is read-only ({action})"
                ),
            )
        return json_response(
            {
                "help": _help(request, action),
                "success": False,
                "error": {"__type": "Not Found Error", "message": f"Action name not known: {action}"},
            },
            400,
        )
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        body = await request.body()
        if body.strip():
            try:
                posted = json.loads(body)
            except ValueError:
                posted = None
            if not isinstance(posted, dict):
                return _error(request, action, _invalid("body", "the body must be a JSON object"))
            params.update(posted)
    try:
        # the store and the backend block: off the event loop, as FastAPI runs the sync endpoints
        return _ok(request, action, await run_in_threadpool(ACTIONS[action], request, params))
    except CkanError as exc:
        return _error(request, action, exc)
    except ApiError as exc:  # a value the shared search parameters refuse (an unknown theme…)
        return _error(request, action, _invalid(exc.parameter or "fq", exc.message))
    except ValueError as exc:  # the backend's own check of the query
        return _error(request, action, CkanError(409, "Search Query Error", str(exc)))


def _query(description: str) -> Any:
    return Query(description=description)


_DESCRIPTION = (
    f"Actions: {', '.join(ACTIONS)}. Parameters as CKAN's, in the query string or (POST) a JSON object body. "
    f"Every write action (package_create, …) answers 403. `fq` filters on {', '.join(FIELDS)} (publishers "
    "are organizations, EU data themes groups, keywords tags, formats res_format)."
)


# CKAN answers the unversioned /api/action/ too, and that is where ckanapi calls
@router.api_route("/api/action/{action}", methods=["GET", "POST"], include_in_schema=False)
@router.get("/api/3/action/{action}", summary="CKAN Action API (read-only)", description=_DESCRIPTION)
@router.post("/api/3/action/{action}", summary="CKAN Action API (read-only), POST", description=_DESCRIPTION)
async def ckan_action(
    request: Request,
    action: str,
    q: Annotated[str | None, _query("Words to find (`*:*` or empty: every dataset)")] = None,
    fq: Annotated[str | None, _query('Filters: field:value or field:"value" terms, all required')] = None,
    rows: Annotated[str | None, _query(f"Packages per page (at most {MAX_PAGE_SIZE})")] = None,
    start: Annotated[str | None, _query("Offset of the first package")] = None,
    sort: Annotated[str | None, _query("metadata_modified desc|asc, else by relevance")] = None,
    facet_field: Annotated[str | None, Query(alias="facet.field", description="JSON list of fields")] = None,
    facet_limit: Annotated[
        str | None, Query(alias="facet.limit", description=f"Values per facet (at most {FACET_SIZE})")
    ] = None,
    facet_mincount: Annotated[
        str | None, Query(alias="facet.mincount", description="Accepted, ignored")
    ] = None,
    include_private: Annotated[str | None, _query("Accepted: every package is public")] = None,
    include_drafts: Annotated[str | None, _query("Accepted: no package is a draft")] = None,
    id: Annotated[str | None, _query("The package or organization id or name")] = None,
    name_or_id: Annotated[str | None, _query("The package id")] = None,
    limit: Annotated[str | None, _query("How many names to list")] = None,
    offset: Annotated[str | None, _query("How many names to skip")] = None,
    all_fields: Annotated[str | None, _query("Whole objects rather than names")] = None,
    query: Annotated[str | None, _query("tag_list: tags that start with this")] = None,
    use_default_schema: Annotated[str | None, _query("Accepted, ignored")] = None,
) -> Response:
    return await _call(request, action)
