"""Organisations: the bodies that own the estate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from api.db import write_transaction
from api.deps import EngineDep, PrincipalDep
from api.services import people, sso
from gis.errors import OrganisationNotFound

router = APIRouter(prefix="/organisations", tags=["register"])

_SELECT = """
    SELECT o.code, o.name, o.kind, o.gss_code,
           count(p.id) FILTER (WHERE p.deleted_at IS NULL AND NOT p.sensitive) AS property_count
    FROM organisation o LEFT JOIN property p ON p.owner = o.code
"""


@router.get("", summary="Every organisation in the register")
def list_organisations(engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(text(_SELECT + " GROUP BY o.code ORDER BY o.name")).mappings().all()
    return {"items": [dict(r) for r in rows]}


@router.get("/{code}", summary="One organisation")
def get_organisation(code: str, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    with engine.connect() as conn:
        row = (
            conn.execute(text(_SELECT + " WHERE o.code = :code GROUP BY o.code"), {"code": code})
            .mappings()
            .first()
        )
    if row is None:
        raise OrganisationNotFound(f"no organisation with code {code!r}")
    return dict(row)


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=63, description="stable slug: lower-case letters, digits, hyphens")
    name: str = Field(max_length=200)
    kind: str = Field(description="county, district, unitary, police, fire, nhs_trust, ...")
    gss_code: str | None = Field(default=None, max_length=9, description="ONS GSS code, e.g. E07000237")


class OrganisationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200)
    kind: str | None = None
    gss_code: str | None = Field(default=None, max_length=9, description="null clears it")


class SsoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    issuer: str = Field(max_length=500, description="the provider's issuer URL (discovery is read from it)")
    client_id: str = Field(max_length=500)
    client_secret: str = Field(max_length=2000, description="stored, never shown again")
    domains: list[str] = Field(max_length=50, description="email domains whose people belong to this body")
    default_role: str = Field(default="viewer", description="role of someone signing in the first time")
    enabled: bool = True


@router.post("", status_code=201, summary="Add an organisation (register admin)")
def add_organisation(body: OrganisationCreate, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    principal.require_admin()
    with write_transaction(engine, principal.actor) as conn:
        return people.add_organisation(conn, body.code, body.name, body.kind, body.gss_code)


@router.patch("/{code}", summary="Change an organisation's name, kind or GSS code (register admin)")
def update_organisation(
    code: str, body: OrganisationUpdate, engine: EngineDep, principal: PrincipalDep
) -> dict[str, Any]:
    principal.require_admin()
    clear = "gss_code" in body.model_fields_set and body.gss_code is None
    with write_transaction(engine, principal.actor) as conn:
        return people.update_organisation(
            conn, code, name=body.name, kind=body.kind, gss_code=body.gss_code, clear_gss_code=clear
        )


@router.put(
    "/{code}/sso", summary="Set the body's single sign-on provider and email domains (register admin)"
)
def set_sso(code: str, body: SsoConfig, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    principal.require_admin()
    with write_transaction(engine, principal.actor) as conn:
        return sso.configure(conn, code, actor=principal.actor, **body.model_dump())


@router.get("/{code}/sso", summary="The body's single sign-on settings, without the secret (its org-admins)")
def get_sso(code: str, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    principal.require_manager(code)
    with engine.connect() as conn:
        return sso.describe(conn, code)
