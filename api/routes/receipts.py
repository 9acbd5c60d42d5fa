"""Capital receipts: the estimate as JSON and as a chart."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import Engine

from api.auth import Principal
from api.deps import EngineDep, PrincipalDep
from api.limits import CEILING_NOTE, CEILINGS, RECEIPTS, check_receipts, expensive
from api.openapi import RULES_KEY
from api.services import receipts as svc
from gis.receipts import SALE_WINDOWS, ReceiptsScenario, comparison_to_dict

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


def _as_json(result: dict[str, Any]) -> dict[str, Any]:
    return {
        **comparison_to_dict(result),
        "excluded_unrated": result["excluded_unrated"],
        "actual": result["actual"],
        "calibration": result["calibration"],
    }


def _run(
    engine: Engine,
    principal: Principal,
    scenario: ReceiptsScenario,
    owner: str | None,
    town: str | None,
    calibrate: bool = False,
) -> dict[str, Any]:
    with engine.connect() as conn:
        return svc.estimate(conn, principal.viewer, scenario, owner=owner, town=town, calibrate=calibrate)


@router.get(
    "/estimate",
    summary="Receipts under the default scenario: single estate vs silo, beside those recorded",
    **expensive(RECEIPTS),
)
def estimate_default(
    engine: EngineDep,
    principal: PrincipalDep,
    owner: OwnerQ = None,
    town: TownQ = None,
    calibrate: CalibrateQ = False,
) -> dict[str, Any]:
    return _as_json(_run(engine, principal, ReceiptsScenario(), owner, town, calibrate))


@router.post(
    "/estimate",
    summary="Receipts under your scenario (every assumption validated)",
    description=SCENARIO_NOTE,
    **expensive(RECEIPTS, openapi_extra=SCENARIO_RULES),
)
def estimate_scenario(
    scenario: ReceiptsScenario,
    engine: EngineDep,
    principal: PrincipalDep,
    owner: OwnerQ = None,
    town: TownQ = None,
    calibrate: CalibrateQ = False,
) -> dict[str, Any]:
    check_receipts(principal, scenario.runs)
    return _as_json(_run(engine, principal, scenario, owner, town, calibrate))


@router.get(
    "/chart.{fmt}",
    summary="Yearly net receipts with the P10–P90 band (default scenario)",
    response_class=Response,
    **expensive(RECEIPTS),
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}},
)
def chart_default(
    fmt: Literal["svg", "png"],
    engine: EngineDep,
    principal: PrincipalDep,
    owner: OwnerQ = None,
    town: TownQ = None,
) -> Response:
    result = _run(engine, principal, ReceiptsScenario(), owner, town)
    return Response(_chart(result, fmt), media_type=MEDIA[fmt])


@router.post(
    "/chart.{fmt}",
    summary="The chart under your scenario",
    description=SCENARIO_NOTE,
    response_class=Response,
    **expensive(RECEIPTS, openapi_extra=SCENARIO_RULES),
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}},
)
def chart_scenario(
    fmt: Literal["svg", "png"],
    scenario: ReceiptsScenario,
    engine: EngineDep,
    principal: PrincipalDep,
    owner: OwnerQ = None,
    town: TownQ = None,
) -> Response:
    check_receipts(principal, scenario.runs)
    result = _run(engine, principal, scenario, owner, town)
    return Response(_chart(result, fmt), media_type=MEDIA[fmt])


def _chart(result: dict[str, Any], fmt: Literal["svg", "png"]) -> bytes:
    from gis.charts import render_receipts_chart  # matplotlib loads on the first chart, not at start-up

    return render_receipts_chart(result["single_estate"], fmt, silo=result["silo"])
