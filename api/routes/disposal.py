"""The disposal pipeline: stage transitions, blockers, partners' interest, recorded outcomes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.db import write_transaction
from api.deps import EngineDep, PrincipalDep, SettingsDep
from api.openapi import RULES_KEY
from api.services import disposal as svc
from gis.disposal import BuyerType
from gis.errors import FieldError, ValidationFailed
from gis.vocab import DisposalBlocker, DisposalStage

router = APIRouter(prefix="/properties/{property_id}/disposal", tags=["disposal"])

Note = Annotated[str | None, Field(max_length=2000, description="why (shown in the pipeline's history)")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TransitionCreate(Body):
    to_stage: DisposalStage
    effective_on: dt.date | None = Field(None, description="when it happened (default today)")
    note: Note = None


class BlockerChange(Body):
    add: list[DisposalBlocker] = Field(default_factory=list)
    clear: list[DisposalBlocker] = Field(default_factory=list)
    effective_on: dt.date | None = Field(None, description="when (default today)")
    note: Note = None


class InterestCreate(Body):
    service: str = Field(min_length=1, max_length=500, description="the service your body would put there")
    floor_area_m2: float = Field(gt=0, description="floor area it needs, m² GIA")
    note: Note = None


class OutcomeCreate(Body):
    outcome: Literal["sale", "withdrawal"]
    completed_on: dt.date | None = Field(None, description="sale: completion date")
    gross_receipt_gbp: int | None = Field(None, ge=0, description="sale: price received, £")
    disposal_costs_gbp: int | None = Field(None, ge=0, description="sale: fees and costs of selling, £")
    buyer_type: BuyerType | None = Field(None, description="sale: who bought it")
    to_stage: Literal["retained", "under_review"] | None = Field(None, description="withdrawal: back to")
    effective_on: dt.date | None = Field(None, description="withdrawal: when (default today)")
    note: Note = None


@router.get("", summary="The building's pipeline: stage, dated blockers, moves, windows, interest, outcomes")
def get_disposal(property_id: str, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    with engine.connect() as conn:
        return svc.disposal_record(conn, property_id, principal.viewer)


@router.post(
    "/transitions",
    summary="Move the building to another stage (an editor of its owner); a bad move is a 422 naming the allowed ones",
)
def post_transition(
    property_id: str,
    body: TransitionCreate,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    principal.require_writer()
    with write_transaction(engine, principal.actor) as conn:
        return svc.transition(
            conn,
            property_id,
            body.to_stage.value,
            principal,
            effective_on=body.effective_on,
            note=body.note,
            window_working_days=settings.interest_window_working_days,
        )


@router.post("/blockers", summary="Add and clear blockers, each dated (an editor of its owner)")
def post_blockers(
    property_id: str, body: BlockerChange, engine: EngineDep, principal: PrincipalDep
) -> dict[str, Any]:
    principal.require_writer()
    with write_transaction(engine, principal.actor) as conn:
        return svc.change_blockers(
            conn,
            property_id,
            principal,
            add=[b.value for b in body.add],
            clear=[b.value for b in body.clear],
            effective_on=body.effective_on,
            note=body.note,
        )


@router.post(
    "/interest",
    status_code=201,
    summary="Register your body's interest while the partners' window is open (a writer of another body)",
)
def post_interest(
    property_id: str, body: InterestCreate, engine: EngineDep, principal: PrincipalDep
) -> dict[str, Any]:
    principal.require_writer()
    with write_transaction(engine, principal.actor) as conn:
        return svc.register_interest(
            conn,
            property_id,
            principal,
            service=body.service,
            floor_area_m2=body.floor_area_m2,
            note=body.note,
        )


SALE_FIELDS = ("completed_on", "gross_receipt_gbp", "disposal_costs_gbp", "buyer_type")
WITHDRAWAL_FIELDS = ("to_stage", "effective_on")
# Which fields go with which outcome: a rule between two fields, said beside the schema (api/openapi.py).
OUTCOME_RULES = {
    **{f: "required for a sale; not part of a withdrawal" for f in SALE_FIELDS},
    "to_stage": "required for a withdrawal; not part of a sale",
    "effective_on": "a withdrawal's only; not part of a sale",
}


@router.post(
    "/outcome",
    summary="Record a sale (price, costs, buyer) or a withdrawal (an editor of its owner)",
    openapi_extra={RULES_KEY: OUTCOME_RULES},
)
def post_outcome(
    property_id: str, body: OutcomeCreate, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep
) -> dict[str, Any]:
    principal.require_writer()
    sale_fields = SALE_FIELDS
    if body.outcome == "sale":
        errors = [FieldError(f, "required for a sale") for f in sale_fields if getattr(body, f) is None]
        errors += [FieldError(f, "not part of a sale") for f in WITHDRAWAL_FIELDS if getattr(body, f)]
    else:
        errors = [FieldError("to_stage", "required for a withdrawal")] if body.to_stage is None else []
        errors += [
            FieldError(f, "not part of a withdrawal") for f in sale_fields if getattr(body, f) is not None
        ]
    if errors:
        raise ValidationFailed(errors)
    with write_transaction(engine, principal.actor) as conn:
        if body.outcome == "sale":
            assert body.completed_on and body.buyer_type  # checked above
            return svc.record_sale(
                conn,
                property_id,
                principal,
                completed_on=body.completed_on,
                gross_receipt_gbp=int(body.gross_receipt_gbp or 0),
                disposal_costs_gbp=int(body.disposal_costs_gbp or 0),
                buyer_type=body.buyer_type.value,
                note=body.note,
            )
        assert body.to_stage is not None
        return svc.record_withdrawal(
            conn,
            property_id,
            principal,
            to_stage=body.to_stage,
            effective_on=body.effective_on,
            note=body.note,
            window_working_days=settings.interest_window_working_days,
        )
