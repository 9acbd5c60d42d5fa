"""FastAPI dependencies as type aliases: settings, engine, the caller."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, fields
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy import Engine

from api.auth import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, Principal, anonymous, principal_for_key
from api.services.filters import PropertyFilter, build_filter
from api.settings import Settings
from gis.errors import CsrfRefused, PasswordChangeRequired


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_engine_dep(request: Request) -> Engine:
    return request.app.state.engine


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine_dep)]


# Paths a person who must change their password may still use.
PENDING_PASSWORD_PATHS = frozenset({"/me", "/me/password", "/logout", "/session"})


def identify(request: Request, settings: Settings, engine: Engine) -> Principal:
    """Who is calling: an API key in a header first, else a session cookie, else anonymous."""
    presented = request.headers.get("x-api-key")
    authorization = request.headers.get("authorization")
    if authorization and authorization.lower().startswith("bearer "):
        presented = authorization[7:].strip()
    if presented:
        return principal_for_key(engine, presented)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        from api.services.people import principal_for_session

        person = principal_for_session(engine, settings, token)
        if person is not None:
            return person
    return anonymous(settings.anonymous_tier, settings.public_rag)


def check_csrf(request: Request, principal: Principal, sent: str | None = None) -> None:
    """A cookie rides along on any request the browser makes; a write must prove it came from our page."""
    if principal.csrf_token is None or request.method in SAFE_METHODS:
        return
    sent = sent or request.headers.get(CSRF_HEADER) or ""
    if not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
        raise CsrfRefused(
            f"send the {CSRF_HEADER} header from GET /me with every change made while signed in"
        )


def get_principal(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """The one place callers are identified and cookie writes are checked for CSRF."""
    principal = identify(request, settings, engine)
    check_csrf(request, principal)
    if principal.must_change_password and request.url.path not in PENDING_PASSWORD_PATHS:
        raise PasswordChangeRequired("change your one-time password first (POST /me/password)")
    caller = principal.key_id or principal.user_id or (request.client.host if request.client else "anonymous")
    request.app.state.rate_limiter.check(caller)
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
