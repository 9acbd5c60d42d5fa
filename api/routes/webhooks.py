"""Webhooks: where each body hears of surplus buildings, interest, closed windows and sales."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.db import write_transaction
from api.deps import EngineDep, PrincipalDep
from api.services import webhooks as svc
from gis.disposal import EventKind

router = APIRouter(prefix="/organisations/{code}/webhooks", tags=["disposal"])


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000, description="http(s) URL that receives signed POSTs")
    events: list[EventKind] | None = Field(None, description="events to receive (default: all)")


@router.post(
    "",
    status_code=201,
    summary="Register a webhook (an editor of the body); the answer shows its signing secret once",
)
def create_webhook(
    code: str, body: WebhookCreate, engine: EngineDep, principal: PrincipalDep
) -> dict[str, Any]:
    principal.require_writer()
    events = [e.value for e in body.events] if body.events else None
    with write_transaction(engine, principal.actor) as conn:
        return svc.create_webhook(conn, code, body.url, events, principal)


@router.get("", summary="The body's webhooks (never their secrets)")
def list_webhooks(code: str, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    principal.require_writer()
    with engine.connect() as conn:
        return {"items": svc.list_webhooks(conn, code, principal)}


@router.delete("/{webhook_id}", status_code=204, summary="Stop a webhook (pending deliveries are dropped)")
def delete_webhook(code: str, webhook_id: str, engine: EngineDep, principal: PrincipalDep) -> Response:
    principal.require_writer()
    with write_transaction(engine, principal.actor) as conn:
        svc.disable_webhook(conn, code, webhook_id, principal)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", summary="The delivery log: each event, its state and every attempt")
def deliveries(
    code: str,
    webhook_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    principal.require_writer()
    with engine.connect() as conn:
        return {"items": svc.delivery_log(conn, code, webhook_id, principal, limit)}
