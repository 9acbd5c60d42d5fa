"""FastAPI dependencies as type aliases: settings, engine, the caller."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.concurrency import run_in_threadpool

from api.auth import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    Principal,
    anonymous,
    presented_key,
    principal_for_key_async,
)
from api.clients import client_address, rate_key
from api.limits import route_cost
from api.ratelimit import RateLimiter
from api.services.filters import RAG_FILTER_VALUES, PropertyFilter, build_filter
from api.services.properties import ExpectedVersion
from api.settings import Settings
from gis.crs import SUPPORTED_CRS, Crs, crs_names
from gis.errors import CsrfRefused, PasswordChangeRequired
from gis.vocab import UseCategory, values


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


# Paths a person who must change their password may still use.
PENDING_PASSWORD_PATHS = frozenset({"/me", "/me/password", "/logout", "/session"})


# A presented key first takes a token from this bucket of its client address (see identify_caller).
KEY_ATTEMPTS = "key-attempts:"


async def identify_caller(request: Request, settings: SettingsDep, pool: AsyncEngineDep) -> Principal:
    """Who is calling, charged to the rate limit: the first dependency of every route (api/main.py).

    Every route runs it, whether or not it needs to know the caller, so no page, sign-in step or
    document answers uncharged; FastAPI caches it per request, so a route that also asks for
    :func:`get_principal` is identified and charged once. The charge is the route's cost
    (api.limits.route_cost) to the key, the person, or the client's address.
    """
    limiter: RateLimiter = request.app.state.rate_limiter
    async with pool.connect() as conn:
        presented = presented_key(request.headers)
        if presented:
            # Limit, then look up: the key takes a token from its address's key-attempt bucket
            # first, and a key that proves good gives it back, while a made-up, revoked or expired
            # one leaves it spent. So an address spraying made-up keys is refused (429) before any
            # lookup once that allowance is gone; charging only after a failed lookup would still
            # look up (and so confirm or deny) every key sent. Good keys never draw on their
            # address, so partner systems behind one address do not share an allowance.
            attempts = KEY_ATTEMPTS + rate_key(client_address(request.scope, settings))
            await limiter.check(conn, attempts)
            principal = await principal_for_key_async(conn, presented)
            await limiter.give_back(conn, attempts)
        else:
            principal = await _session_or_anonymous(request, settings)
        await limiter.check(conn, caller_id(request, principal), cost=route_cost(request.scope.get("route")))
    return principal


async def _session_or_anonymous(request: Request, settings: Settings) -> Principal:
    # A made-up or expired session cookie is no credential: the request is anonymous and is charged
    # to its address like any other anonymous request, so a cookie never buys a fresh allowance.
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        from api.services.people import principal_for_session

        # Sessions are read on the sync engine (sign-in's own code path), off the event loop.
        engine = request.app.state.engine
        person = await run_in_threadpool(principal_for_session, engine, settings, token)
        if person is not None:
            return person
    return anonymous(settings.anonymous_tier, settings.public_rag)


CallerDep = Annotated[Principal, Depends(identify_caller)]


def check_csrf(request: Request, principal: Principal, sent: str | None = None) -> None:
    """A cookie rides along on any request the browser makes; a write must prove it came from our page."""
    if principal.csrf_token is None or request.method in SAFE_METHODS:
        return
    sent = sent or request.headers.get(CSRF_HEADER) or ""
    if not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
        raise CsrfRefused(
            f"send the {CSRF_HEADER} header from GET /me with every change made while signed in"
        )


async def get_principal(request: Request, principal: CallerDep) -> Principal:
    """The caller of a route that reads or changes the register: identified, CSRF-checked for cookie writes."""
    check_csrf(request, principal)
    if principal.must_change_password and request.url.path not in PENDING_PASSWORD_PATHS:
        raise PasswordChangeRequired("change your one-time password first (POST /me/password)")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def caller_id(request: Request, principal: Principal) -> str:
    """Whom the rate limit and the concurrency limit count: the key, the person, or the client address."""
    return (
        principal.key_id
        or principal.user_id
        or rate_key(client_address(request.scope, request.app.state.settings))
    )


def parse_if_match(value: str | None) -> ExpectedVersion | None:
    """Return the versions an If-Match header accepts, or None if the header is absent.

    RFC 9110 §13.1.1: If-Match compares strongly, so a weak tag (``W/"1"``)
    never matches; ``*`` matches any current version; a list matches any of
    its strong tags. A tag that is not one of our ETags matches nothing (412).
    """
    if value is None or value.strip() == "":
        return None
    if value.strip() == "*":
        return ExpectedVersion(any_version=True)
    versions: set[int] = set()
    for tag in (t.strip() for t in value.split(",")):
        if tag.startswith('"') and tag.endswith('"') and tag[1:-1].isdigit() and len(tag) <= 12:
            versions.add(int(tag[1:-1]))
    return ExpectedVersion(frozenset(versions))


def etag(version: int) -> str:
    return f'"{version}"'


def one_or_more(allowed: Iterable[str], *, at_least_one: bool = False) -> str:
    """The pattern of a query value naming ``allowed`` words, comma-separated (as split_values reads it:
    blanks between commas are dropped)."""
    word = "|".join(re.escape(a) for a in allowed)
    if at_least_one:
        return rf"^(\s*,)*\s*({word})\s*(,\s*(({word})\s*)?)*$"
    return rf"^\s*(({word})\s*)?(,\s*(({word})\s*)?)*$"


def crs_query(description: str, among: tuple[Crs, ...] = SUPPORTED_CRS) -> Any:
    """A CRS query parameter, documented with every name gis.crs accepts for ``among`` (and the empty
    value, which parse_crs reads as the default)."""
    return Query(description=description, json_schema_extra={"enum": ["", *crs_names(among)]})


def between(minimum: float, maximum: float) -> dict[str, Any]:
    """OpenAPI bounds of a parameter the domain validates itself (so its own message names the rule)."""
    return {"json_schema_extra": {"minimum": minimum, "maximum": maximum}}


# Four (or six: with heights) comma-separated numbers, as parse_bbox reads them.
_NUMBER = r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*"
BBOX_PATTERN = rf"^({_NUMBER}(,{_NUMBER}){{3}}((,{_NUMBER}){{2}})?)?$"  # empty: no bbox


def bbox_pattern() -> dict[str, Any]:
    """A bbox's shape for the document; parse_bbox refuses any other, naming what it expects."""
    return {"json_schema_extra": {"pattern": BBOX_PATTERN}}


@dataclass
class FilterParams:
    """The register's filters as query parameters, shared by every listing, tile and export."""

    owner: Annotated[
        list[str] | None, Query(description="organisation code(s); repeat or comma-separate")
    ] = None
    rag: Annotated[
        list[str] | None,
        Query(
            description="red, amber, green or unrated; repeat or comma-separate",
            json_schema_extra={"items": {"type": "string", "pattern": one_or_more(RAG_FILTER_VALUES)}},
        ),
    ] = None
    use: Annotated[
        list[str] | None,
        Query(
            description="use category slug(s); repeat or comma-separate",
            json_schema_extra={"items": {"type": "string", "pattern": one_or_more(values(UseCategory))}},
        ),
    ] = None
    town: Annotated[str | None, Query(max_length=100, description="post town")] = None
    postcode: Annotated[str | None, Query(max_length=10, description="postcode prefix")] = None
    q: Annotated[str | None, Query(max_length=100, description="name or postcode contains")] = None
    bbox: Annotated[
        str | None,
        Query(description="minx,miny,maxx,maxy in bbox-crs (default lon/lat)", **bbox_pattern()),
    ] = None
    bbox_crs: Annotated[
        str | None,
        Query(
            alias="bbox-crs",
            description="CRS84, EPSG:4326 or EPSG:27700",
            json_schema_extra={"enum": ["", *crs_names()]},
        ),
    ] = None
    min_value_gbp: Annotated[int | None, Query(ge=0)] = None
    max_value_gbp: Annotated[int | None, Query(ge=0)] = None

    def build(self) -> PropertyFilter:
        """Validate into a PropertyFilter; raises ValidationFailed naming every bad parameter."""
        return build_filter(**{f.name: getattr(self, f.name) for f in fields(self)})


FilterDep = Annotated[FilterParams, Depends()]
