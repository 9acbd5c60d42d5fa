"""Settings read from the environment (prefix ``ESTATE_``, plus plain ``DATABASE_URL``).

Validators fail at start-up, so a bad setting stops the service before it
serves a wrong answer.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from estate_infra.settings import DatabaseSettings
from gis.layers import MAX_ZOOM, TILE_EXTENT, TileRules
from gis.register import FootprintLimits


class Settings(DatabaseSettings):
    """The service's settings; where the database is comes from :class:`DatabaseSettings`."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str | None = Field(
        default=None, description="base URL for links (https://estate.example.gov.uk); behind a proxy, set it"
    )
    # Comma-separated in the environment (ESTATE_ALLOWED_HOSTS=estate.example.gov.uk,localhost).
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=["localhost", "127.0.0.1", "::1"],
        description=(
            "Host header values answered (a port is ignored; '*.example.gov.uk' a subdomain, '*' any host, only "
            "with public_base_url); any other Host is a 400. The host of public_base_url and the served "
            "host are always allowed. Links follow the Host only when public_base_url is unset"
        ),
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default=[],
        description=(
            "addresses or CIDR networks of the reverse proxies in front of the service; X-Forwarded-For is "
            "read only from these (the right-most address not in this list is the client), and so is "
            "X-Forwarded-Proto (links and Secure cookies follow it)"
        ),
    )

    anonymous_tier: Literal["public", "partner"] = Field(
        default="public",
        description="what callers without a key see: public fields only, or partner fields",
    )
    online_basemap: bool = Field(
        default=True, description="offer the online basemap on /map (off: the register's own wayfinding only)"
    )
    basemap_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="XYZ raster tile URL of the online basemap, e.g. an Ordnance Survey Maps API URL with a key",
    )
    basemap_attribution: str = Field(
        default='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        description="attribution shown under the online basemap (HTML)",
    )
    public_rag: bool = Field(default=True, description="show RAG of non-sensitive records publicly")

    page_limit_default: int = Field(
        default=100, ge=1, description="features or records on a page when the caller gives no limit"
    )
    page_limit_max: int = Field(
        default=10_000, ge=1, le=100_000, description="a larger limit is served as this many (OGC: no error)"
    )
    exact_count_limit: int = Field(
        default=100_000, ge=0, description="numberMatched is exact up to this count, estimated beyond"
    )
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    sync_batch_max: int = Field(default=10_000, ge=1, le=100_000)
    rate_limit_per_minute: int = Field(default=600, ge=1, description="per caller, across every worker")
    statement_timeout_s: float = Field(
        default=15.0, gt=0, description="database time a request may use; long routes: api/middleware.py"
    )
    tile_cache_max_tiles: int = Field(
        default=50_000, ge=0, description="rendered tiles kept in the shared cache (0 = no cache)"
    )
    tile_max_age_s: int = Field(
        default=0, ge=0, description="browser/proxy freshness of a tile; 0 = revalidate by ETag each time"
    )
    async_pool_size: int = Field(default=10, ge=1, le=200, description="async connections per worker")
    work_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="processes per API worker that run exports, analyses and imports "
        "(away from the serving loop; 1 leaves a 2-core machine a core for everyone else)",
    )
    work_prestart: bool = Field(
        default=True,
        description="start the work processes with the server, not on the first expensive request",
    )
    expensive_wait_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="an expensive request over its caller's concurrency waits this long for the caller's "
        "own running one to finish before 429",
    )
    expensive_at_once: int = Field(
        default=2,
        ge=1,
        le=1_000,
        description="expensive requests (exports, analyses, imports) running at once from all callers, "
        "across every worker; more get 503 with Retry-After",
    )
    feed_retention_days: int = Field(
        default=90, ge=1, description="estate feed prune forgets feed positions older than this by default"
    )
    max_url_bytes: int = Field(
        default=8 * 1024,
        ge=1024,
        le=60 * 1024,
        description="longest path and query answered; longer is a 414 (below the HTTP server's own cut-off)",
    )
    footprint_max_vertices: int = Field(default=FootprintLimits.max_vertices, ge=4)
    footprint_max_bytes: int = Field(default=FootprintLimits.max_bytes, ge=1024)
    footprint_max_distance_m: float = Field(
        default=FootprintLimits.max_distance_m,
        gt=0,
        description="a footprint contains its point or lies this near",
    )

    @property
    def footprint_limits(self) -> FootprintLimits:
        return FootprintLimits(
            self.footprint_max_vertices, self.footprint_max_bytes, self.footprint_max_distance_m
        )

    interest_window_working_days: int = Field(
        default=40,
        ge=1,
        le=260,
        description="working days (England and Wales) partners have to register interest in a surplus building",
    )
    background_worker: bool = Field(
        default=True,
        description="deliver webhooks and close interest windows from a thread of the API process",
    )
    worker_poll_s: float = Field(default=2.0, gt=0, le=3600, description="how often that worker looks")
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120, description="per delivery attempt")
    webhook_max_attempts: int = Field(default=8, ge=1, le=50, description="attempts before giving up")
    webhook_retry_base_s: float = Field(
        default=30.0, ge=0, le=86_400, description="wait after the first failure; doubles each time"
    )
    webhook_retry_cap_s: float = Field(default=6 * 3600, ge=0, description="longest wait between attempts")
    session_idle_minutes: int = Field(default=120, ge=1, description="a session unused this long ends")
    session_max_hours: int = Field(
        default=12, ge=1, le=24 * 30, description="a session ends this long after sign-in"
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="failed sign-ins for one email before lockout"
    )
    login_ip_max_failures: int = Field(
        default=50, ge=1, description="failed sign-ins from one address before it is throttled"
    )
    login_window_minutes: int = Field(default=15, ge=1, description="failures older than this are forgotten")
    login_lockout_minutes: int = Field(default=15, ge=1, description="how long a lockout lasts")
    password_hash_memory_kib: int = Field(
        default=65_536, ge=8, description="Argon2id memory per hash (RFC 9106 low-memory profile: 64 MiB)"
    )
    password_hash_time_cost: int = Field(default=3, ge=1, description="Argon2id passes")
    cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto", description="Secure cookies: auto = when the request or public_base_url is https"
    )

    tile_points_min_zoom: int = Field(
        default=TileRules.points_min_zoom, ge=0, le=MAX_ZOOM, description="below this zoom tiles aggregate"
    )
    tile_max_points: int = Field(
        default=TileRules.max_points_per_tile,
        ge=1,
        le=1_000_000,
        description="a tile that would hold more buildings aggregates them even at high zoom",
    )
    tile_grid_cells_per_side: int = Field(
        default=TileRules.grid_cells_per_side,
        ge=1,
        le=TILE_EXTENT,
        description=f"aggregation grid cells per tile side; divides the tile extent ({TILE_EXTENT})",
    )

    @field_validator("allowed_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, hosts: list[str]) -> list[str]:
        cleaned = [host.strip().lower().strip("[]") for host in hosts]
        for host in cleaned:
            name = host[2:] if host.startswith("*.") else host
            if host != "*" and (not name or any(c in name for c in "*/?#@ ")):
                raise ValueError(
                    f"ESTATE_ALLOWED_HOSTS: {host!r} is not a host, an address, '*.domain' or '*'"
                )
        return cleaned

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: list[str]) -> list[str]:
        try:
            return [str(ipaddress.ip_network(p.strip(), strict=False)) for p in proxies]
        except ValueError as exc:
            raise ValueError(f"ESTATE_TRUSTED_PROXIES: {exc} (give addresses or CIDR networks)") from None

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                "ESTATE_PUBLIC_BASE_URL must be an http(s) URL with no query, e.g. https://estate.example"
            )
        return url.rstrip("/")

    @property
    def answered_hosts(self) -> tuple[str, ...]:
        """Host patterns a request may name: the allowed list, public_base_url's host and the served host."""
        extra = [urlsplit(self.public_base_url).hostname or ""] if self.public_base_url else []
        # A wildcard bind address (0.0.0.0, ::) is no host anyone browses to.
        if self.host not in ("0.0.0.0", "::", ""):
            extra.append(self.host.lower().strip("[]"))
        return tuple(dict.fromkeys([*self.allowed_hosts, *extra]))

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if "*" in self.allowed_hosts and not self.public_base_url:
            # Links follow the Host header when no public base URL is set: any host would write any link.
            raise ValueError(
                "ESTATE_ALLOWED_HOSTS='*' needs ESTATE_PUBLIC_BASE_URL, which links are then built from"
            )
        if self.page_limit_default > self.page_limit_max:
            raise ValueError("page_limit_default must not exceed page_limit_max")
        if TILE_EXTENT % self.tile_grid_cells_per_side:
            raise ValueError(f"tile_grid_cells_per_side must divide the tile extent {TILE_EXTENT}")
        return self

    @property
    def tile_rules(self) -> TileRules:
        return TileRules(
            points_min_zoom=self.tile_points_min_zoom,
            max_points_per_tile=self.tile_max_points,
            grid_cells_per_side=self.tile_grid_cells_per_side,
        )

    def page_limit(self, requested: int | None) -> int:
        """The page size to serve: the default when none is asked, never above the maximum."""
        return min(requested or self.page_limit_default, self.page_limit_max)

    @field_validator("basemap_url")
    @classmethod
    def _xyz_template(cls, url: str) -> str:
        if not url.startswith(("https://", "http://")) or not all(k in url for k in ("{z}", "{x}", "{y}")):
            raise ValueError("ESTATE_BASEMAP_URL must be an http(s) URL with {z}, {x} and {y}")
        return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
