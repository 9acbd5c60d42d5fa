"""Imports: a council's Transparency Code CSV into the register. Parse, call the service, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.types import Message, Receive

from api.deps import PrincipalDep, SettingsDep
from api.limits import IMPORT, expensive
from api.offload import WorkPoolDep
from api.services import imports as svc
from api.services.properties import require_owner
from gis.errors import FieldError, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

router = APIRouter(prefix="/imports", tags=["imports"])

# Media types a raw CSV body may carry: browsers and spreadsheets label CSV inconsistently.
CSV_MEDIA_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/plain",
        "application/vnd.ms-excel",
        "application/octet-stream",
    }
)
MULTIPART = "multipart/form-data"

_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        MULTIPART: {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "text/csv": {"schema": {"type": "string"}},
    },
}


@router.post(
    "/transparency",
    summary="Import a Transparency Code land and building assets CSV (writer of the owner, or admin)",
    **expensive(IMPORT, openapi_extra={"requestBody": _REQUEST_BODY}),
    responses={
        200: {"description": "dry run, or nothing changed: summary, plan and quality report"},
        201: {"description": "records written or retired: summary, plan and quality report"},
        422: {"description": "strict mode and rows rejected (errors[].index = file row); nothing written"},
    },
)
async def import_transparency(
    request: Request,
    pool: WorkPoolDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    owner: Annotated[str, Query(min_length=2, max_length=63, description="organisation code of the file")],
    dry_run: Annotated[bool, Query(description="report what would happen; write nothing")] = False,
    strict: Annotated[bool, Query(description="write nothing unless every row is good")] = False,
    accept_probable: Annotated[
        bool, Query(description="apply probable matches (same UPRN, same place and similar name) too")
    ] = False,
    retire_missing: Annotated[
        bool, Query(description="retire (soft-delete) the organisation's records the file no longer holds")
    ] = False,
) -> JSONResponse:
    principal.require_writer()
    require_owner(principal.viewer, owner)
    data = await _csv_bytes(request, settings.max_body_bytes)
    # Parsed, matched and written in a worker process (api/offload.py).
    outcome = await pool.run(
        svc.import_transparency,
        data,
        owner,
        actor=principal.actor,
        dry_run=dry_run,
        strict=strict,
        accept_probable=accept_probable,
        retire_missing=retire_missing,
    )
    return JSONResponse(
        {"summary": outcome.summary(), "plan": outcome.plan, "report": outcome.report},
        status_code=201 if outcome.written else 200,
    )


async def _csv_bytes(request: Request, limit_bytes: int) -> bytes:
    """Return the CSV from a multipart ``file`` field or a raw CSV body of at most ``limit_bytes``."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != MULTIPART and media_type not in CSV_MEDIA_TYPES:
        got = media_type or "no Content-Type"
        raise UnsupportedMediaType(f"send multipart/form-data with a 'file' field or text/csv, not {got}")
    # The app refuses an oversized Content-Length up front; a chunked body has none, so count as it arrives.
    body = await _read_capped(request, limit_bytes)
    if media_type != MULTIPART:
        return body
    async with Request(request.scope, _replay(body)).form() as form:  # closes the spooled upload
        upload = form.get("file")
        if isinstance(upload, UploadFile):
            return await upload.read()
        if isinstance(upload, str) and upload:
            return upload.encode("utf-8")  # curl -F 'file=<assets.csv' sends the file as a text field
    raise ValidationFailed([FieldError("file", "is required: a multipart field named 'file' with the CSV")])


async def _read_capped(request: Request, limit_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLarge(f"request body over {limit_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A receive channel that hands back a body already read, so the form parser can read it again."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
