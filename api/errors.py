"""Domain errors → HTTP: one table of statuses, every answer application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis import errors as e
from gis.crs import CrsError

log = logging.getLogger("shared_estate")
PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://shared-estate.github.io/problems/"

STATUS: dict[type[e.RegisterError], int] = {
    e.ValidationFailed: 422,
    e.NotFound: 404,
    e.VersionMismatch: 412,
    e.PreconditionRequired: 428,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.Conflict: 409,
    e.Gone: 410,
    e.PayloadTooLarge: 413,
    e.RateLimited: 429,
    e.TimedOut: 503,
}


class BadRequest(e.RegisterError):
    """A query the standard says is a 400 (OGC API: unknown CRS, malformed parameter)."""

    title = "Bad request"


STATUS[BadRequest] = 400


def status_for(exc: e.RegisterError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
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


def problem_response(exc: e.RegisterError) -> JSONResponse:
    """The problem+json answer for a domain error, its status from the one table above."""
    status = status_for(exc)
    extra = dict(exc.extra)
    headers = {}
    if isinstance(exc, e.ValidationFailed):
        extra["errors"] = [err.to_dict() for err in exc.errors]
    if isinstance(exc, e.RateLimited | e.TimedOut) and "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    if isinstance(exc, e.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="shared-estate"'
    return problem(status, exc.title, exc.detail, slug=_slug(exc), headers=headers or None, **extra)


def _query_canceled(exc: BaseException) -> bool:
    from psycopg.errors import QueryCanceled

    return isinstance(getattr(exc, "orig", None), QueryCanceled) or isinstance(exc, QueryCanceled)


def register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.RegisterError)
    async def _register_error(_request: Request, exc: e.RegisterError) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(CrsError)
    async def _crs_error(_request: Request, exc: CrsError) -> JSONResponse:
        return problem(400, "Unsupported CRS", str(exc), slug="unsupported-crs")

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            where = loc[0] if loc else "request"
            field = ".".join(loc[1:]) or where
            message = "unknown field" if err.get("type") == "extra_forbidden" else err.get("msg", "invalid")
            errors.append({"field": field, "in": where, "message": message})
        detail = "; ".join(f"{x['field']}: {x['message']}" for x in errors[:5])
        return problem(422, "Invalid input", detail, slug="validation-failed", errors=errors)

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
    async def _database_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        if _query_canceled(exc):
            # The route's statement timeout ran out (a cancel for a departed client has no one to answer).
            return problem_response(
                e.TimedOut("the database work for this request ran past its time limit", retry_after=30)
            )
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
