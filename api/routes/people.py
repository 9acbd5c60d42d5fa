"""People and API keys of a body, managed by its org-admins (and the register's admins)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from api import auth
from api.db import write_transaction
from api.deps import EngineDep, PrincipalDep
from api.services import people
from gis.errors import NotFound

router = APIRouter(tags=["people"])


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254)
    org: str | None = Field(default=None, description="defaults to your own organisation")
    role: str = Field(default="viewer", description="viewer | editor | org-admin | admin")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org: str | None = Field(default=None, description="defaults to your own organisation")
    role: str = Field(default="viewer", description="viewer | editor | org-admin | admin")
    label: str | None = Field(
        default=None, max_length=200, pattern=r"^[^\x00]*$", description="what history records for its writes"
    )
    expires_days: int | None = Field(default=None, ge=1, le=3650)


def _own_or(principal: auth.Principal, org: str | None) -> str:
    target = org or principal.viewer.org
    if target is None:
        principal.require_admin()
        raise NotFound("name an organisation")
    return target


def _listing_scope(principal: auth.Principal, org: str | None) -> str | None:
    """Whose people or keys a listing shows: every body's for an admin asking for all, else one body's."""
    if org is None and principal.role == "admin":
        return None
    scope = _own_or(principal, org)
    principal.require_manager(scope)
    return scope


def _require_granter(principal: auth.Principal, org: str | None, role: str) -> str:
    """The body a new person or key joins; only the register's admins grant the admin role."""
    target = _own_or(principal, org)
    principal.require_manager(target)
    if role.strip().lower() == "admin":
        principal.require_admin()
    return target


def _user_in_scope(principal: auth.Principal, conn: Any, email: str) -> dict[str, Any]:
    user = people.get_user(conn, email)
    principal.require_manager(user["org"])
    return user


@router.get("/users", summary="People of a body (its org-admins) or of every body (admins)")
def list_users(
    engine: EngineDep, principal: PrincipalDep, org: str | None = Query(default=None)
) -> dict[str, Any]:
    scope = _listing_scope(principal, org)
    with engine.connect() as conn:
        return {"items": people.list_users(conn, scope)}


@router.post("/users", status_code=201, summary="Add a person; answers their one-time password, once")
def add_user(body: UserCreate, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    org = _require_granter(principal, body.org, body.role)
    with write_transaction(engine, principal.actor) as conn:
        return people.add_user(conn, body.email, org, body.role, principal.actor)


@router.post("/users/{email}/disable", summary="Disable a person; their sessions end at once")
def disable_user(email: str, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    with write_transaction(engine, principal.actor) as conn:
        _user_in_scope(principal, conn, email)
        return people.disable_user(conn, email, principal.actor)


@router.post("/users/{email}/enable", summary="Enable a disabled person again")
def enable_user(email: str, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    with write_transaction(engine, principal.actor) as conn:
        _user_in_scope(principal, conn, email)
        return people.enable_user(conn, email)


@router.post("/users/{email}/reset-password", summary="New one-time password (shown once); sessions end")
def reset_password(email: str, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    with write_transaction(engine, principal.actor) as conn:
        _user_in_scope(principal, conn, email)
        return people.reset_password(conn, email)


@router.get("/keys", summary="API keys of a body (its org-admins) or of every body (admins)")
def list_keys(
    engine: EngineDep, principal: PrincipalDep, org: str | None = Query(default=None)
) -> dict[str, Any]:
    scope = _listing_scope(principal, org)
    with engine.connect() as conn:
        return {"items": auth.list_keys(conn, scope)}


@router.post("/keys", status_code=201, summary="Create an API key for a partner system; shown once")
def create_key(body: KeyCreate, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    org = _require_granter(principal, body.org, body.role)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=body.expires_days) if body.expires_days else None
    with write_transaction(engine, principal.actor) as conn:
        return auth.create_key(conn, org, body.role, label=body.label, expires_at=expires)


@router.post("/keys/{prefix}/revoke", status_code=204, summary="Revoke a key of your body")
def revoke_key(prefix: str, engine: EngineDep, principal: PrincipalDep) -> None:
    with write_transaction(engine, principal.actor) as conn:
        org = conn.execute(text("SELECT org FROM api_key WHERE prefix = :p"), {"p": prefix}).scalar()
        if org is None:
            raise NotFound(f"no key with prefix {prefix}")
        principal.require_manager(org)
        if not auth.revoke_key(conn, prefix, org):
            raise NotFound(f"key {prefix} is already revoked")
