"""The OpenAPI document completed in one place, for every route (ours and any added later).

FastAPI documents what a handler returns on success; what every route can
also answer comes from the app around it and is added here when the document
is built: the error statuses as ``application/problem+json`` (the statuses are
those of ``api.errors``, the guards and the limits), the security schemes (a
bearer API key, or the same key in ``X-API-Key``; sign-in sessions and OIDC
join here when they land), and, for routes that answer GeoJSON or HTML, those
media types.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import PROBLEM_JSON

GEOJSON = "application/geo+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `errors` names each field at fault",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "in": {"type": "string"},
                    "index": {"type": "integer"},
                },
            },
        },
        "parameter": {"type": "string"},
    },
}

# Every route: what a caller can always get (bad query, bad or unknown key, a hidden or missing
# resource, a long URL, invalid input, too many requests, an unforeseen failure, a database away).
COMMON_ERRORS: dict[int, str] = {
    400: "Bad request (a parameter the standard says is a 400, such as an unknown OGC parameter)",
    401: "The API key is malformed, unknown, revoked or expired",
    403: "The key may not do this",
    404: "Not found (hidden records are absent too)",
    405: "Method not allowed",
    414: "The URL is too long",
    422: "Invalid input; `errors` names each field",
    429: "Too many requests, or too many of this caller's expensive requests at once (see Retry-After)",
    500: "Unexpected error (logged; no internals in the answer)",
    503: (
        "Try again later (see Retry-After): the register's database cannot be reached, the request's "
        "database work ran past its route's time limit, or the room for expensive work is full"
    ),
}
WRITE_ERRORS: dict[int, str] = {
    409: "Conflict with the register's state (a duplicate key, or the same Idempotency-Key in flight)",
    412: "If-Match names a version that is not the record's current one",
    413: "The body is too large",
    415: "Unsupported media type",
    428: "If-Match is required to change a record",
}
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})

# What the server accepts, said in the document. PostgreSQL text cannot hold NUL, so no text
# field or parameter takes one (api/guards.py for the URL, gis/register.py and the routes for
# bodies): every string a request carries gets this pattern unless it already has a stricter one.
NO_NUL_PATTERN = r"^[^\x00]*$"
# Rules a JSON Schema cannot state, because they relate two values or need the register or a map,
# by the field a refusal names. Each operation that takes the field lists them under
# RULES_KEY, as routes do for their own (``openapi_extra={RULES_KEY: {...}}``); a client (and the
# fuzz test) can tell a refusal under one of these from a schema that says too little.
RULES_KEY = "x-rules-beyond-schema"
RULES_BEYOND_SCHEMA: dict[str, str] = {
    "bbox": "minx ≤ maxx and miny ≤ maxy, in degrees unless bbox-crs is EPSG:27700",
    "min_value_gbp": "at most max_value_gbp",
    "owner": "an organisation in the register (for a writer, its own)",
    "geometry": "a point in Great Britain, in the CRS the crs parameter names",
    "footprint": (
        "a valid 2-D outline with closed rings, within the vertex and byte ceilings, containing the "
        "record's point or near it (ESTATE_FOOTPRINT_MAX_*)"
    ),
    "rag_reason": "given whenever rag is",
    "cursor": "a cursor from a page's next or prev link, as issued",
    "since": "the next cursor of a previous call, as issued",
    "expected_version": "the stored version of an existing record",
}
SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`se_<prefix>_<secret>`). Without one you read as the public.",
    },
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "The same key"},
}
# Anonymous access is allowed (the public view), so the empty requirement comes first.
SECURITY: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}, {"apiKeyHeader": []}]


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _complete_operation(method: str, operation: dict[str, Any], has_html: bool) -> None:
    responses = operation.setdefault("responses", {})
    errors = dict(COMMON_ERRORS)
    if method in WRITE_METHODS:
        errors.update(WRITE_ERRORS)
    for status, description in errors.items():
        # FastAPI's own 422 (application/json, HTTPValidationError) is not what we send.
        responses[str(status)] = _problem_response(description)
    for status, response in responses.items():
        if not status.startswith("2"):
            continue
        content = response.setdefault("content", {})
        if has_html and "text/html" not in content:
            content["text/html"] = {"schema": {"type": "string"}}
    operation.setdefault("security", SECURITY)


def _strings_refuse_nul(node: Any, components: dict[str, Any], seen: set[str]) -> None:
    """Give every string schema under ``node`` (following $refs once) the NUL-free pattern."""
    if isinstance(node, list):
        for item in node:
            _strings_refuse_nul(item, components, seen)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            _strings_refuse_nul(components.get(name), components, seen)
        return
    if node.get("type") == "string" and not {"enum", "const", "pattern", "format"} & node.keys():
        node["pattern"] = NO_NUL_PATTERN
    for key, value in node.items():
        if key in ("properties", "patternProperties", "$defs"):
            for child in value.values():
                _strings_refuse_nul(child, components, seen)
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "not", "schema"):
            _strings_refuse_nul(value, components, seen)


def _field_names(node: Any, components: dict[str, Any], seen: set[str]) -> set[str]:
    """Property names a request body schema can carry (following $refs once)."""
    names: set[str] = set()
    if isinstance(node, list):
        for item in node:
            names |= _field_names(item, components, seen)
        return names
    if not isinstance(node, dict):
        return names
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return names
        seen.add(name)
        return _field_names(components.get(name), components, seen)
    names |= set(node.get("properties", {}))
    for key in ("properties",):
        for child in node.get(key, {}).values():
            names |= _field_names(child, components, seen)
    for key in ("items", "anyOf", "oneOf", "allOf", "schema"):
        if key in node:
            names |= _field_names(node[key], components, seen)
    return names


def _declare_inputs(operation: dict[str, Any], components: dict[str, Any]) -> None:
    """Say what the operation's inputs accept: no NUL in text, and the rules beyond JSON Schema."""
    body = [media.get("schema") for media in operation.get("requestBody", {}).get("content", {}).values()]
    for parameter in operation.get("parameters", []):
        _strings_refuse_nul(parameter.get("schema"), components, set())
    for schema in body:
        _strings_refuse_nul(schema, components, set())
    fields = {p["name"] for p in operation.get("parameters", [])} | _field_names(body, components, set())
    rules = {name: rule for name, rule in RULES_BEYOND_SCHEMA.items() if name in fields}
    rules.update(operation.get(RULES_KEY, {}))
    if rules:
        operation[RULES_KEY] = dict(sorted(rules.items()))


def complete_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the completed document (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
        )
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        components["securitySchemes"] = SECURITY_SCHEMES
        for operations in doc.get("paths", {}).values():
            for method, operation in operations.items():
                if not isinstance(operation, dict) or method not in {"get", "head", *WRITE_METHODS}:
                    continue
                # OGC API's f=html: the operation answers an HTML page too.
                has_html = any(
                    p.get("name") == "f" and "html" in p.get("description", "")
                    for p in operation.get("parameters", [])
                )
                _complete_operation(method, operation, has_html)
                _declare_inputs(operation, schemas)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
