"""Review of federation: `GET /api/duplicates`, the clusters of several copies with the evidence of each link,
and for each pair of sources how many datasets they share (who mirrors whom). The same as `fedcat duplicates`.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
from typing import Annotated

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..store.federation import FederationTables

router = APIRouter(tags=["federation"])
MAX_PAGE_SIZE = 1000
_encoder = msgspec.json.Encoder()


def source_pair_rows(tables: FederationTables, source: str | None = None) -> list[dict]:
    """Each pair of sources sharing datasets, with the share of each one's records mirrored by the other."""
    rows = []
    for pair in tables.source_pairs():
        if source is not None and source not in (pair["a"], pair["b"]):
            continue
        rows.append(
            {
                **pair,
                "share_of_a": round(pair["shared"] / pair["a_records"], 4) if pair["a_records"] else None,
                "share_of_b": round(pair["shared"] / pair["b_records"], 4) if pair["b_records"] else None,
            }
        )
    return rows


@router.get("/api/duplicates", summary="Clusters of copies of one dataset, with their evidence")
def duplicates(
    request: Request,
    source: Annotated[str | None, Query(description="Only clusters with a copy from this source id.")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
) -> Response:
    tables = FederationTables(request.app.state.store)
    body = {
        "page": page,
        "page_size": page_size,
        "pairs": source_pair_rows(tables, source),
        "clusters": tables.review(source, page_size, (page - 1) * page_size),
    }
    return Response(_encoder.encode(body), media_type="application/json")
