"""Absolute links that survive a reverse proxy (public_base_url) and keep the query string."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request

from api.settings import Settings

_DEFAULTS = Settings.model_fields
PAGE_LIMIT_HELP = (
    f"items on a page; default ESTATE_PAGE_LIMIT_DEFAULT ({_DEFAULTS['page_limit_default'].default:,}); "
    f"a larger value than ESTATE_PAGE_LIMIT_MAX ({_DEFAULTS['page_limit_max'].default:,}) is served as "
    "that maximum, not refused (OGC API – Features)"
)


def base_url(request: Request, settings: Settings) -> str:
    """ESTATE_PUBLIC_BASE_URL, else the request's own scheme and Host, which api/guards.py has already
    checked against ESTATE_ALLOWED_HOSTS (a Host outside it never reaches a route)."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def page_url(request: Request, settings: Settings, path: str | None = None, **overrides: str | None) -> str:
    """Return this request's URL (or ``path``) with some query parameters replaced or removed."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in overrides]
    params += [(k, v) for k, v in overrides.items() if v is not None]
    query = urlencode(params)
    return f"{base_url(request, settings)}{path or request.url.path}" + (f"?{query}" if query else "")
