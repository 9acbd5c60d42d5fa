"""Interactive API documentation (/docs, /redoc) from assets the app serves itself, never a CDN.

Swagger UI and ReDoc come from npm (package.json, installed by scripts/setup.sh),
so the pages work on a machine without internet access.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse, Response

router = APIRouter(include_in_schema=False)
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
# URL prefix → folder, mounted by create_app
ASSET_DIRS = {
    "/static/vendor/swagger-ui": NODE_MODULES / "swagger-ui-dist",
    "/static/vendor/redoc": NODE_MODULES / "redoc" / "bundles",
}
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
OPENAPI_URL = "/openapi.json"


def _root(request: Request) -> str:
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")


def openapi_document(request: Request) -> Response:
    """The OpenAPI document, serialised once (api/openapi.py builds it) and served from memory.

    A plain route, not a FastAPI one, so it is not rate limited: like a static file it touches no
    database and renders nothing after the first request, for less than a charge would cost.
    """
    cached: bytes | None = getattr(request.app.state, "openapi_bytes", None)
    if cached is None:
        cached = bytes(JSONResponse(request.app.openapi()).body)
        request.app.state.openapi_bytes = cached
    return Response(cached, media_type="application/json")


router.add_route(OPENAPI_URL, openapi_document, include_in_schema=False)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{OPENAPI_URL}",
        title=f"{request.app.title} – API",
        swagger_js_url=f"{root}/static/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/vendor/swagger-ui/favicon-32x32.png",
        oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
        # Swagger UI would otherwise send the document to an online validator for its badge.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(OAUTH2_REDIRECT)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}{OPENAPI_URL}",
        title=f"{request.app.title} – API reference",
        redoc_js_url=f"{root}/static/vendor/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{root}/static/vendor/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )
