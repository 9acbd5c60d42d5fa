"""Refusals made before routing: an over-long URL (414), NUL in the path or query (422), and a Host
that is not ours (400).

Pure ASGI, outermost, so a hostile URL costs no dependency, no database
round trip and no parsing of a body. Each answer is problem+json naming the
parameter, like any other validation failure.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from api.clients import client_scheme, host_allowed, request_host
from api.errors import error_response
from api.settings import Settings
from gis.errors import FieldError, UnknownHost, UriTooLong, ValidationFailed


def _path_templates(app: Any) -> list[Any]:
    """Compiled path templates of every documented route, to name the parameter a path value fills."""
    cached = getattr(app.state, "path_templates", None)
    if cached is None:
        cached = [compile_path(path)[0] for path in app.openapi().get("paths", {})]
        app.state.path_templates = cached
    return cached


def _nul_parameter(app: Any, scope: Scope) -> tuple[str, str] | None:
    """Return (name, where) of the first path or query parameter holding NUL, if any."""
    path = scope.get("path", "")
    if "\x00" in path:
        for regex in _path_templates(app) if app is not None else ():
            match = regex.match(path)
            if match:
                for name, value in match.groupdict().items():
                    if "\x00" in value:
                        return name, "path"
        return "path", "path"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in value or "\x00" in name:
            return name.replace("\x00", "\\0"), "query"
    return None


class RequestGuards:
    """ASGI middleware: 414 past ``max_url_bytes``; 422 for NUL, which PostgreSQL text cannot hold;
    400 for a Host outside ESTATE_ALLOWED_HOSTS; the scheme a trusted proxy forwards."""

    def __init__(
        self, app: ASGIApp, *, max_url_bytes: int, routes_app: Any = None, settings: Settings | None = None
    ) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes
        self.routes_app = routes_app  # the FastAPI app whose routes name the path parameters
        # Links are built from the Host header when no public base URL is set (api/urls.py), so a
        # request naming another host would be answered with links to it, and a shared cache would
        # keep that answer for everyone (Host header poisoning). As Django's ALLOWED_HOSTS and
        # Starlette's TrustedHostMiddleware do, such a request is refused (RFC 9110 §7.2: 400).
        # A request without Host (HTTP/1.0) is answered: its links use the address it reached.
        self.hosts = settings.answered_hosts if settings is not None else ("*",)
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        url_bytes = len(scope.get("raw_path") or scope.get("path", "").encode()) + len(
            scope.get("query_string", b"")
        )
        if url_bytes > self.max_url_bytes:
            too_long = UriTooLong(
                f"the path and query are {url_bytes:,} bytes; at most {self.max_url_bytes:,} "
                "(send long selections as fewer, broader filters)"
            )
            await error_response(Request(scope), too_long)(scope, receive, send)
            return
        host = request_host(scope)
        if host is not None and not host_allowed(host, self.hosts):
            unknown = UnknownHost(
                "this service does not answer for the host named in the Host header; "
                "its operator lists the hosts it answers for in ESTATE_ALLOWED_HOSTS"
            )
            await error_response(Request(scope), unknown)(scope, receive, send)
            return
        scheme = client_scheme(scope, self.settings) if self.settings is not None else None
        if scheme is not None:
            # Behind a TLS proxy: links (api/urls.py) and Secure cookies follow the client's scheme.
            scope["scheme"] = scheme
        found = _nul_parameter(self.routes_app, scope)
        if found is not None:
            name, where = found
            nul = ValidationFailed([FieldError(name, "contains a NUL character", where=where)])
            await error_response(Request(scope), nul)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _documented_query(app: Any, path: str, method: str) -> frozenset[str]:
    cache: dict[tuple[str, str], frozenset[str]] = app.state.__dict__.setdefault("_query_names", {})
    key = (path, method)
    if key not in cache:
        operation = app.openapi().get("paths", {}).get(path, {}).get(method, {})
        cache[key] = frozenset(p["name"] for p in operation.get("parameters", []) if p.get("in") == "query")
    return cache[key]


def reject_unknown_query(request: Request) -> None:
    """OGC API – Features (/req/core/query-param-unknown): a parameter the operation does not define is a 400.

    Answering as if it were absent would hand back unfiltered data for a filter the caller
    believes applied (``filter``, ``sortby``, ``datetime``). The operation's parameters are
    read from the OpenAPI document, so they are declared once, on the route.
    """
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return
    method = "get" if request.method == "HEAD" else request.method.lower()
    known = _documented_query(request.app, path, method)
    unknown = sorted({name for name in request.query_params if name not in known})
    if unknown:
        message = "unknown query parameter; this operation takes " + (
            ", ".join(sorted(known)) or "no query parameters"
        )
        raise ValidationFailed([FieldError(unknown[0], message, where="query")])
