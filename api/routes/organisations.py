"""Organisations: the bodies that own the estate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import EngineDep, PrincipalDep
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
