"""Domain errors → HTTP: one table of statuses, every answer application/problem+json (RFC 9457).

No other module decides an error status. Routes, services and middleware raise
(or hand :func:`error_response`) an exception of ``gis.errors``; this module
maps it. One column differs by API: OGC API – Features and Tiles (the landing
page, ``/conformance`` and everything under ``/collections``) answer an invalid
query parameter with **400**, as the standard requires
(``/req/core/query-param-invalid``); the register's own API answers every
invalid input, query or body, with **422** naming the field. So the same bad
``bbox`` is a 400 on an OGC items page and on a tile alike, and a 422 on
``/properties`` and ``/exports``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.db import database_failure
from gis import errors as e
from gis.crs import CrsError

log = logging.getLogger("shared_estate")
PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://shared-estate.github.io/problems/"

STATUS: dict[type[e.RegisterError], int] = {
    e.ValidationFailed: 422,
    e.UnsupportedMediaType: 415,
    e.NotFound: 404,
    e.VersionMismatch: 412,
    e.PreconditionRequired: 428,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.Conflict: 409,
    e.Gone: 410,
    e.PayloadTooLarge: 413,
    e.UriTooLong: 414,
    e.UnknownHost: 400,
    e.RateLimited: 429,  # this caller asks too often or runs too much at once
    e.Overloaded: 503,  # every caller together: the service's room for expensive work is full
    e.TimedOut: 503,
    e.Unavailable: 503,  # the database is down or restarting: retry
}


# OGC API – Features Part 1, /req/core/query-param-invalid: an invalid parameter value is a 400.
OGC_STATUS: dict[type[e.RegisterError], int] = {e.ValidationFailed: 400}


def is_ogc_api(path: str) -> bool:
    """Whether ``path`` is served under the OGC API (landing, conformance, collections, tiles)."""
    return path in ("/", "/conformance", "/collections") or path.startswith("/collections/")


def status_for(exc: e.RegisterError, *, ogc: bool = False) -> int:
    """The HTTP status of a domain error; ``ogc`` for a request to the OGC API."""
    tables = (OGC_STATUS, STATUS) if ogc else (STATUS,)
    for table in tables:
        for cls in type(exc).__mro__:
            if cls in table:
                return table[cls]
    return 500


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str = "error",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _slug(exc: Exception) -> str:
    name = type(exc).__name__
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


def error_response(request: Request, exc: e.RegisterError) -> JSONResponse:
    """The problem+json answer to a domain error, its status from the table."""
    status = status_for(exc, ogc=is_ogc_api(request.url.path))
    extra = dict(exc.extra)
    headers = {}
    if isinstance(exc, e.ValidationFailed):
        extra["errors"] = [err.to_dict() for err in exc.errors]
    if isinstance(exc, e.RateLimited | e.Overloaded | e.TimedOut | e.Unavailable) and "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    if isinstance(exc, e.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="shared-estate"'
    return problem(status, exc.title, exc.detail, slug=_slug(exc), headers=headers or None, **extra)


def register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.RegisterError)
    async def _register_error(request: Request, exc: e.RegisterError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(CrsError)
    async def _crs_error(request: Request, exc: CrsError) -> JSONResponse:
        return error_response(request, e.ValidationFailed([e.FieldError("crs", str(exc), where="query")]))

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            where = loc[0] if loc else "request"
            field = ".".join(loc[1:]) or where
            message = "unknown field" if err.get("type") == "extra_forbidden" else err.get("msg", "invalid")
            errors.append(e.FieldError(field, message, where=where))
        return error_response(request, e.ValidationFailed(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return problem(
            exc.status_code,
            title,
            str(exc.detail),
            slug=f"http-{exc.status_code}",
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        failure = database_failure(exc)
        if failure is not None:
            if isinstance(failure, e.Unavailable):
                # One line, not a traceback: during an outage every request lands here.
                log.error("database unreachable (%s %s): %s", request.method, request.url.path, exc.orig)
            return error_response(request, failure)
        log.exception("database error", exc_info=exc)
        return problem(
            500, "Internal error", "an unexpected error occurred; it has been logged", slug="internal-error"
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # Never echo internals (they may hold a value the caller may not see).
        log.exception("unexpected error", exc_info=exc)
        return problem(
            500, "Internal error", "an unexpected error occurred; it has been logged", slug="internal-error"
        )
