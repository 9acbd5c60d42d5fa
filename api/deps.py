"""FastAPI dependencies as type aliases: settings, engine, the caller."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import Principal, anonymous, principal_for_key_async
from api.services.filters import PropertyFilter, build_filter
from api.settings import Settings


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_engine_dep(request: Request) -> Engine:
    return request.app.state.engine


async def get_async_engine_dep(request: Request) -> AsyncEngine:
    # async: resolved on the event loop that owns the pool (sync dependencies run in threads)
    return request.app.state.async_pool.engine()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine_dep)]
AsyncEngineDep = Annotated[AsyncEngine, Depends(get_async_engine_dep)]


async def get_principal(
    request: Request,
    settings: SettingsDep,
    pool: AsyncEngineDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """The one place callers are identified; swap this for OAuth2 without touching handlers."""
    presented = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        presented = authorization[7:].strip()
    async with pool.connect() as conn:
        if presented:
            principal = await principal_for_key_async(conn, presented)
        else:
            principal = anonymous(settings.anonymous_tier, settings.public_rag)
        caller = principal.key_id or (request.client.host if request.client else "anonymous")
        await request.app.state.rate_limiter.check(conn, caller)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def parse_if_match(value: str | None) -> int | None:
    """Return the version an If-Match header names (ETag "<version>"), or None if absent."""
    if value is None or value.strip() == "":
        return None
    tag = value.split(",")[0].strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    try:
        return int(tag)
    except ValueError:
        return -1  # never matches: answered 412, as for any stale tag


def etag(version: int) -> str:
    return f'"{version}"'


@dataclass
class FilterParams:
    """The register's filters as query parameters, shared by every listing, tile and export."""

    owner: Annotated[
        list[str] | None, Query(description="organisation code(s); repeat or comma-separate")
    ] = None
    rag: Annotated[list[str] | None, Query(description="red, amber, green or unrated")] = None
    use: Annotated[list[str] | None, Query(description="use category slug(s)")] = None
    town: Annotated[str | None, Query(max_length=100, description="post town")] = None
    postcode: Annotated[str | None, Query(max_length=10, description="postcode prefix")] = None
    q: Annotated[str | None, Query(max_length=100, description="name or postcode contains")] = None
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs (default lon/lat)")] = None
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="CRS84, EPSG:4326 or EPSG:27700")] = (
        None
    )
    min_value_gbp: Annotated[int | None, Query(ge=0)] = None
    max_value_gbp: Annotated[int | None, Query(ge=0)] = None

    def build(self) -> PropertyFilter:
        """Validate into a PropertyFilter; raises ValidationFailed naming every bad parameter."""
        return build_filter(**{f.name: getattr(self, f.name) for f in fields(self)})


FilterDep = Annotated[FilterParams, Depends()]
