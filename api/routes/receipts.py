"""Capital receipts: the estimate as JSON and as a chart, computed in a worker process (api/offload.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api.deps import PrincipalDep
from api.limits import CEILING_NOTE, CEILINGS, RECEIPTS, check_receipts, expensive
from api.offload import WorkPoolDep
from api.openapi import RULES_KEY
from api.services import receipts as svc
from gis.receipts import SALE_WINDOWS, ReceiptsScenario

router = APIRouter(prefix="/receipts", tags=["capital receipts"])
SCENARIO_NOTE = f"`runs` is at most {CEILINGS.receipts_runs:,} for {CEILING_NOTE}; writer keys may ask up to the model's limit."
OwnerQ = Annotated[str | None, Query(max_length=63, description="only this organisation's buildings")]
TownQ = Annotated[str | None, Query(max_length=100, description="only this post town")]
MEDIA = {"svg": "image/svg+xml", "png": "image/png"}


CalibrateQ = Annotated[
    bool,
    Query(
        description=(
            "calibrate the sale probabilities by RAG and stage from recorded outcomes where there are "
            "enough (the rule and the sample sizes come back under 'calibration')"
        )
    ),
]


# A rule between two fields, said beside the schema (api/openapi.py); pydantic names the body for it.
SCENARIO_RULES = {
    RULES_KEY: {"body": f"each window's first year is at most its last year ({', '.join(SALE_WINDOWS)})"}
}


@router.get(
    "/estimate",
    summary="Receipts under the default scenario: single estate vs silo, beside those recorded",
    response_model=dict[str, Any],
    **expensive(RECEIPTS),
)
async def estimate_default(
    pool: WorkPoolDep,
    principal: PrincipalDep,
    owner: OwnerQ = None,
    town: TownQ = None,
    calibrate: CalibrateQ = False,
) -> Response:
    body = await pool.run_json(
        svc.estimate_answer, principal.viewer, ReceiptsScenario(), owner=owner, town=town, calibrate=calibrate
    )
    return Response(body, media_type="application/json")


@router.post(
    "/estimate",
    summary="Receipts under your scenario (every assumption validated)",
    description=SCENARIO_NOTE,
    response_model=dict[str, Any],
    **expensive(RECEIPTS, openapi_extra=SCENARIO_RULES),
)
async def estimate_scenario(
    scenario: ReceiptsScenario,
    pool: WorkPoolDep,
    principal: PrincipalDep,
    owner: OwnerQ = None,
    town: TownQ = None,
    calibrate: CalibrateQ = False,
) -> Response:
    check_receipts(principal, scenario.runs)
    body = await pool.run_json(
        svc.estimate_answer, principal.viewer, scenario, owner=owner, town=town, calibrate=calibrate
    )
    return Response(body, media_type="application/json")


@router.get(
    "/chart.{fmt}",
    summary="Yearly net receipts with the P10–P90 band (default scenario)",
    response_class=Response,
    **expensive(RECEIPTS),
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}},
)
async def chart_default(
    fmt: Literal["svg", "png"],
    pool: WorkPoolDep,
    principal: PrincipalDep,
    owner: OwnerQ = None,
    town: TownQ = None,
) -> Response:
    chart = await pool.run(
        svc.estimate_chart, principal.viewer, ReceiptsScenario(), fmt, owner=owner, town=town
    )
    return Response(chart, media_type=MEDIA[fmt])


@router.post(
    "/chart.{fmt}",
    summary="The chart under your scenario",
    description=SCENARIO_NOTE,
    response_class=Response,
    **expensive(RECEIPTS, openapi_extra=SCENARIO_RULES),
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}},
)
async def chart_scenario(
    fmt: Literal["svg", "png"],
    scenario: ReceiptsScenario,
    pool: WorkPoolDep,
    principal: PrincipalDep,
    owner: OwnerQ = None,
    town: TownQ = None,
) -> Response:
    check_receipts(principal, scenario.runs)
    chart = await pool.run(svc.estimate_chart, principal.viewer, scenario, fmt, owner=owner, town=town)
    return Response(chart, media_type=MEDIA[fmt])
