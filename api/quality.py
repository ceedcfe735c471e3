"""Metadata quality endpoints: the MQA score aggregated per source or per publisher.

Included by `create_app` (`app.include_router(router)`); reads the store from `request.app.state.store`.
Scores come from the store's `quality` table, written when records are indexed (`indexer.derived`), so
the figures here always match the search's `quality` facet.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ..indexer.derived import dataset_quality, quality_groups
from ..mappings.model import Dataset
from ..mappings.quality import (
    BANDS,
    DIMENSION_MAX,
    INDICATORS,
    MAX_POINTS,
    Aggregate,
    Quality,
    band,
)
from .params import check_closed_sets

router = APIRouter(tags=["quality"])
_encoder = msgspec.json.Encoder()
NO_PUBLISHER = "(no publisher)"


class BandRange(BaseModel):
    band: str
    min: int
    max: int


class QualityGroup(BaseModel):
    key: str = Field(description="The source id, or the publisher's normalised name ('' when none).")
    label: str = Field(description="The source's name, or the publisher's name.")
    datasets: int
    mean: float = Field(description=f"Mean MQA score, 0 to {MAX_POINTS}.")
    min: float
    max: float
    band: str = Field(description="The rating band of the mean score.")
    bands: dict[str, int] = Field(description="Datasets per rating band.")
    dimensions: dict[str, float] = Field(description="Mean points per MQA dimension.")


class QualityReport(BaseModel):
    group_by: str
    max_points: int
    dimensions: dict[str, int] = Field(description="Maximum points of each dimension.")
    bands: list[BandRange]
    overall: QualityGroup | None = Field(description="Every live dataset together (null when none).")
    groups: list[QualityGroup] = Field(description="Largest groups first.")


def band_ranges() -> list[dict[str, Any]]:
    ranges, top = [], MAX_POINTS
    for name, low in BANDS:
        ranges.append({"band": name, "min": low, "max": top})
        top = low - 1
    return ranges


def _group(agg: Aggregate, label: str) -> dict[str, Any]:
    return {
        "key": agg.key,
        "label": label,
        "datasets": agg.datasets,
        "mean": round(agg.mean, 2),
        "min": round(agg.min, 2),
        "max": round(agg.max, 2),
        "band": band(agg.mean),
        "bands": agg.bands,
        "dimensions": {d: round(v, 2) for d, v in agg.dimensions.items()},
    }


def quality_json(quality: Quality) -> dict[str, Any]:
    """One dataset's score for the API: total, band, dimensions and every indicator, rounded to 0.01."""
    return {
        "total": round(quality.total, 2),
        "max_points": MAX_POINTS,
        "band": quality.band,
        "dimensions": {d: round(v, 2) for d, v in quality.dimensions.items()},
        "indicators": [
            {
                "name": i.name,
                "dimension": i.dimension,
                "points": round(i.points, 2),
                "max": i.max,
                "share": round(i.share, 4),
                **({"note": i.note} if i.note else {}),
            }
            for i in quality.indicators
        ],
    }


def dataset_quality_json(store: Any, fedcat_id: str, dataset: Dataset) -> dict[str, Any]:
    """The `quality` member of `/api/datasets/{id}`: scored now, from the record and its stored checks."""
    return quality_json(dataset_quality(store, fedcat_id, dataset))


def report(store: Any, group_by: str, sources: list[str] | None, names: dict[str, str]) -> dict[str, Any]:
    """The `/api/quality` body; `names` labels source ids. Shared with `fedcat quality`."""
    overall = quality_groups(store, None, sources)
    groups = []
    for agg in quality_groups(store, group_by, sources):
        if group_by == "source":
            label = names.get(agg.key, agg.key)
        elif group_by == "publisher":
            label = agg.key or NO_PUBLISHER
        else:
            label = agg.key
        groups.append(_group(agg, label))
    return {
        "group_by": group_by,
        "max_points": MAX_POINTS,
        "dimensions": DIMENSION_MAX,
        "bands": band_ranges(),
        "overall": _group(overall[0], "all datasets") if overall else None,
        "groups": groups,
    }


@router.get(
    "/api/quality",
    summary="Metadata quality per source or per publisher",
    description="The data.europa.eu Metadata Quality Assessment score (0 to "
    f"{MAX_POINTS}: {', '.join(f'{d} {p}' for d, p in DIMENSION_MAX.items())}) of the live datasets, "
    "aggregated: mean, min, max, datasets per rating band ("
    + ", ".join(f"{b['band']} {b['min']}-{b['max']}" for b in band_ranges())
    + f") and mean points per dimension. Indicators: {', '.join(n for _d, n, _p in INDICATORS)}; "
    "each dataset's detail is in `/api/datasets/{id}`.",
    response_model=QualityReport,
)
def quality_report(
    request: Request,
    group_by: Annotated[
        Literal["source", "publisher"],
        Query(description="source: one group per source; publisher: per normalised publisher name."),
    ] = "source",
    source: Annotated[
        list[str] | None, Query(description="Only the datasets of this source id (repeat for several).")
    ] = None,
) -> Response:
    check_closed_sets(request, source, None)
    config = request.app.state.config
    names = {s.id: s.name for s in config.sources}
    body = report(request.app.state.store, group_by, source, names)
    return Response(_encoder.encode(body), media_type="application/json")
