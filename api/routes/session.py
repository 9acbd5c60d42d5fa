"""Signing in and out: the /login page and its JSON twin, single sign-on, /me and /logout.

A browser holds one cookie (``estate_session``: HttpOnly, SameSite=Lax, Secure
behind HTTPS). Every write it makes must echo the session's CSRF token in the
``X-CSRF-Token`` header (GET /me gives it); the HTML forms here send it as a
``csrf_token`` field instead. The sign-in form itself is protected from
login CSRF by a double-submit cookie; the JSON form needs no such cookie,
because a cross-site page cannot send JSON here without a CORS preflight we refuse.
"""

from __future__ import annotations

import hmac
import secrets
from html import escape
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.auth import CSRF_HEADER, SESSION_COOKIE, Principal
from api.clients import client_address
from api.db import write_transaction
from api.deps import CallerDep, EngineDep, PrincipalDep, SettingsDep, check_csrf
from api.openapi import NO_NUL_PATTERN, RULES_KEY
from api.services import people, sso
from api.settings import Settings
from api.urls import base_url
from gis.errors import (
    CsrfRefused,
    FieldError,
    NotFound,
    SignInLocked,
    SignInRefused,
    SsoRefused,
    Unauthenticated,
    ValidationFailed,
)

router = APIRouter(tags=["sign-in"])
LOGIN_CSRF_COOKIE = "estate_login_csrf"
JSON_TYPES = ("application/json",)


def _wants_html(request: Request) -> bool:
    """A person's browser (which gets the sign-in page back with the message) rather than a script."""
    return "text/html" in request.headers.get("accept", "")


def _secure(request: Request, settings: Settings) -> bool:
    if settings.cookie_secure != "auto":
        return settings.cookie_secure == "always"
    return request.url.scheme == "https" or (settings.public_base_url or "").startswith("https://")


def _set_cookie(
    response: Response,
    request: Request,
    settings: Settings,
    name: str,
    value: str,
    max_age_s: int,
    path: str = "/",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age_s,
        path=path,
        httponly=True,
        samesite="lax",
        secure=_secure(request, settings),
    )


def me_body(principal: Principal) -> dict[str, Any]:
    """What the page needs to know about its caller (never a secret other than its own CSRF token)."""
    if principal.via == "anonymous":
        return {"signed_in": False, "via": "anonymous", "csrf_header": CSRF_HEADER}
    return {
        "signed_in": True,
        "via": principal.via,
        "email": principal.email,
        "actor": principal.actor,
        "org": principal.viewer.org,
        "role": principal.role,
        "can_edit": principal.can_write,
        "must_change_password": principal.must_change_password,
        "csrf_token": principal.csrf_token,
        "csrf_header": CSRF_HEADER,
    }


async def _body(request: Request) -> tuple[dict[str, Any], bool]:
    """The request's fields and whether they came as JSON (else an HTML form)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in JSON_TYPES:
        try:
            data = await request.json()
        except ValueError:
            raise ValidationFailed([FieldError("body", "not valid JSON")]) from None
        if not isinstance(data, dict):
            raise ValidationFailed([FieldError("body", "a JSON object")])
        return data, True
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}, False


EMAIL_MAX, PASSWORD_MAX = 254, 1000  # RFC 5321's longest address; a passphrase, not a payload


def _str(data: dict[str, Any], name: str, max_len: int = PASSWORD_MAX) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ValidationFailed([FieldError(name, f"required, at most {max_len} characters")])
    if "\x00" in value:  # PostgreSQL text cannot hold NUL: answer for the field, not with a 500
        raise ValidationFailed([FieldError(name, "contains a NUL character")])
    return value


# --- the HTML page ----------------------------------------------------------------------------------

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in · Shared Estate</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin:.6rem 0 .2rem}}input{{width:100%;padding:.4rem;box-sizing:border-box}}
button{{margin-top:1rem;padding:.5rem 1rem}}.error{{color:#a00;background:#fee;padding:.5rem}}
hr{{margin:2rem 0}}</style></head><body><h1>Shared Estate</h1>{content}</body></html>"""


def _sign_in_form(csrf: str, next_path: str, error: str | None, email: str = "") -> str:
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return f"""<h2>Sign in</h2>{problem}
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{escape(csrf)}"><input type="hidden" name="next" value="{escape(next_path)}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="{escape(email)}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form><hr>
<h2>Sign in with your organisation</h2>
<form method="get" action="/login/sso"><input type="hidden" name="next" value="{escape(next_path)}">
<label for="sso-email">Work email</label><input id="sso-email" name="email" type="email" required>
<button type="submit">Continue to your organisation's sign-in</button></form>"""


def _signed_in(principal: Principal, error: str | None) -> str:
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    who = (
        f"<p>Signed in as <strong>{escape(principal.email or '')}</strong> "
        f"({escape(principal.viewer.org or '')}, {escape(principal.role)}).</p>"
    )
    csrf = escape(principal.csrf_token or "")
    change = ""
    if principal.must_change_password:
        change = f"""<h2>Choose your password</h2><p>Your password was set for one use; choose your own to go on.</p>
<form method="post" action="/me/password"><input type="hidden" name="csrf_token" value="{csrf}">
<label for="current">One-time password</label><input id="current" name="current_password" type="password" autocomplete="current-password" required>
<label for="new">New password (12 characters or more)</label><input id="new" name="new_password" type="password" autocomplete="new-password" required minlength="12">
<button type="submit">Change password</button></form>"""
    else:
        change = '<p><a href="/map">Open the map</a></p>'
    return f"""{problem}{who}{change}<form method="post" action="/logout">
<input type="hidden" name="csrf_token" value="{csrf}"><button type="submit">Sign out</button></form>"""


@router.get("/login", response_class=HTMLResponse, summary="The sign-in page (HTML)")
def login_page(
    request: Request,
    settings: SettingsDep,
    principal: CallerDep,
    next: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    if principal.via == "session":
        return HTMLResponse(
            _PAGE.format(content=_signed_in(principal, error)), headers={"Cache-Control": "no-store"}
        )
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    page = _PAGE.format(content=_sign_in_form(csrf, sso._safe_next(next), error))
    response = HTMLResponse(page, headers={"Cache-Control": "no-store"})
    _set_cookie(response, request, settings, LOGIN_CSRF_COOKIE, csrf, 3600, path="/login")
    return response


# --- password sign-in ----------------------------------------------------------------------------


_TEXT = {"type": "string", "minLength": 1, "pattern": NO_NUL_PATTERN}
_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["email", "password"],
                    "properties": {
                        "email": {**_TEXT, "maxLength": EMAIL_MAX},
                        "password": {**_TEXT, "maxLength": PASSWORD_MAX},
                    },
                }
            },
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["email", "password", "csrf_token"],
                    "properties": {
                        "email": {**_TEXT, "maxLength": EMAIL_MAX},
                        "password": {**_TEXT, "maxLength": PASSWORD_MAX},
                        "csrf_token": {"type": "string"},
                        "next": {"type": "string"},
                    },
                }
            },
        },
    }
}


@router.post(
    "/login",
    openapi_extra=_LOGIN_BODY,
    summary="Sign in with email and password (JSON, or the /login page's form)",
    description=(
        "JSON body {email, password} answers the session (as GET /me) and sets the session cookie. "
        "After five failed attempts for one email the account is locked for a while (429), "
        "whether or not it exists."
    ),
)
async def login(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    data, is_json = await _body(request)
    next_path = sso._safe_next(data.get("next") if isinstance(data.get("next"), str) else None)
    if not is_json:
        sent, kept = str(data.get("csrf_token") or ""), request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        if not kept or not hmac.compare_digest(sent.encode(), kept.encode()):
            raise CsrfRefused("the sign-in form expired: reload /login and try again")
    try:
        email, password = _str(data, "email", EMAIL_MAX), _str(data, "password", PASSWORD_MAX)
        client_ip = client_address(request.scope, settings)
        user_id = await run_in_threadpool(people.check_password, engine, settings, email, password, client_ip)
    except (SignInRefused, SignInLocked, ValidationFailed) as exc:
        if is_json:
            raise
        message = people.WRONG_CREDENTIALS if isinstance(exc, ValidationFailed) else exc.detail
        return RedirectResponse(f"/login?{urlencode({'error': message, 'next': next_path})}", status_code=303)
    session = await run_in_threadpool(
        _open, engine, settings, user_id, "password", request.cookies.get(SESSION_COOKIE)
    )
    if is_json:
        response: Response = JSONResponse(_session_body(session))
    else:
        target = "/login" if session.user["must_change_password"] else next_path
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    _set_cookie(response, request, settings, SESSION_COOKIE, session.token, session.max_age_s)
    return response


def _open(
    engine: Any, settings: Settings, user_id: str, method: str, old_token: str | None
) -> people.NewSession:
    with engine.begin() as conn:
        return people.start_session(conn, user_id, method, settings, replacing_token=old_token)


def _session_body(session: people.NewSession) -> dict[str, Any]:
    user = session.user
    return {
        "signed_in": True,
        "via": "session",
        "email": user["email"],
        "actor": user["email"],
        "org": user["org"],
        "role": user["role"],
        "can_edit": user["role"] != "viewer",
        "must_change_password": user["must_change_password"],
        "csrf_token": session.csrf_token,
        "csrf_header": CSRF_HEADER,
        "expires_in_s": session.max_age_s,
    }


@router.post(
    "/logout",
    summary="Sign out: end this session (needs the CSRF token)",
    responses={
        204: {"description": "signed out"},
        303: {"description": "signed out; the browser goes to /login"},
    },
)
async def logout(
    request: Request, engine: EngineDep, settings: SettingsDep, principal: CallerDep
) -> Response:
    data, is_json = await _body(request)
    token = request.cookies.get(SESSION_COOKIE)
    if principal.via == "session" and token:
        sent = request.headers.get(CSRF_HEADER) or str(data.get("csrf_token") or "")
        check_csrf(request, principal, sent)
        await run_in_threadpool(_end, engine, token)
    wants_html = not is_json and _wants_html(request)
    response: Response = (
        RedirectResponse("/login", status_code=303) if wants_html else Response(status_code=204)
    )
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request, settings)
    )
    return response


def _end(engine: Any, token: str) -> None:
    with engine.begin() as conn:
        people.end_session(conn, token)


@router.get("/me", summary="Who is signed in: email, organisation, role and the CSRF token for writes")
def me(principal: PrincipalDep) -> dict[str, Any]:
    return me_body(principal)


@router.get("/session", summary="The same as GET /me", include_in_schema=False)
def session_alias(principal: PrincipalDep) -> dict[str, Any]:
    return me_body(principal)


@router.post("/me/password", summary="Change your own password (needs the current one and the CSRF token)")
async def change_password(request: Request, engine: EngineDep, principal: CallerDep) -> Response:
    data, is_json = await _body(request)
    if principal.via != "session" or not principal.user_id:
        raise Unauthenticated("sign in first (/login)")
    check_csrf(request, principal, request.headers.get(CSRF_HEADER) or str(data.get("csrf_token") or ""))
    current, new = _str(data, "current_password"), _str(data, "new_password")
    token = request.cookies.get(SESSION_COOKIE) or ""

    def _change() -> None:
        with write_transaction(engine, principal.actor) as conn:
            people.change_password(conn, principal.user_id or "", current, new, people.token_sha256(token))

    try:
        await run_in_threadpool(_change)
    except ValidationFailed as exc:
        if is_json:
            raise
        return RedirectResponse(f"/login?{urlencode({'error': exc.detail})}", status_code=303)
    if is_json:
        return Response(status_code=204)
    return RedirectResponse("/map", status_code=303)


# --- single sign-on ------------------------------------------------------------------------------


@router.get(
    "/login/sso",
    summary="Start signing in with your organisation's provider (by org code or email)",
    openapi_extra={RULES_KEY: {"org": "give org, or your work email (email), or both"}},
)
def sso_start(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    org: str | None = None,
    email: str | None = None,
    next: str | None = None,
) -> Response:
    if not org and not email:
        raise ValidationFailed([FieldError("org", "give your organisation's code, or your work email")])
    redirect_uri = f"{base_url(request, settings)}/login/sso/callback"
    try:
        if not org:
            with engine.connect() as conn:
                org = sso.org_for_email(conn, email or "")
        started = sso.start(engine, org, redirect_uri, next)
    except (NotFound, SsoRefused) as exc:
        if not _wants_html(request):
            raise
        return RedirectResponse(f"/login?{urlencode({'error': exc.detail})}", status_code=303)
    response = RedirectResponse(started.authorize_url, status_code=302)
    _set_cookie(
        response, request, settings, sso.SSO_COOKIE, started.browser_token, sso.LOGIN_TTL_S, path="/login/sso"
    )
    return response


@router.get("/login/sso/callback", summary="Where the provider sends the browser back")
def sso_callback(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    state: str | None = None,
    code: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    try:
        identity, next_path = sso.finish(
            engine,
            state,
            code,
            f"{error}: {error_description or ''}".strip(": ") if error else None,
            request.cookies.get(sso.SSO_COOKIE),
        )
    except SsoRefused as exc:
        if not _wants_html(request):
            raise
        return RedirectResponse(f"/login?{urlencode({'error': exc.detail})}", status_code=303)
    with engine.begin() as conn:
        user_id = people.user_for_sso(conn, identity.org, identity.email, identity.default_role)
        session = people.start_session(conn, user_id, "sso", settings, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(next_path, status_code=303)
    _set_cookie(response, request, settings, SESSION_COOKIE, session.token, session.max_age_s)
    response.delete_cookie(sso.SSO_COOKIE, path="/login/sso")
    return response
