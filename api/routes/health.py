"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import EngineDep

router = APIRouter(tags=["service"])


@router.get("/healthz", summary="Service and database health")
def healthz(engine: EngineDep) -> dict[str, Any]:
    with engine.connect() as conn:
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    return {"status": "ok", "postgis": postgis, "schema_revision": revision}
