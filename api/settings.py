"""Settings read from the environment (prefix ``ESTATE_``, plus plain ``DATABASE_URL``).

Validators fail at start-up, so a bad setting stops the service before it
serves a wrong answer.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.register import FootprintLimits

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ESTATE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "ESTATE_DATABASE_URL"),
        description="PostgreSQL URL of an existing PostGIS server; unset = embedded cluster",
    )
    data_dir: Path = Field(default=PROJECT_ROOT / ".estate", description="embedded cluster folder")
    pg_port: int = Field(default=54329, ge=1024, le=65535, description="embedded cluster port")
    pg_bin_dir: Path | None = Field(default=None, description="PostgreSQL binaries; found if unset")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str | None = Field(default=None, description="base URL for links behind a proxy")

    anonymous_tier: Literal["public", "partner"] = Field(
        default="public",
        description="what callers without a key see: public fields only, or partner fields",
    )
    online_basemap: bool = Field(default=True, description="offer the OpenStreetMap basemap on /map")
    public_rag: bool = Field(default=True, description="show RAG of non-sensitive records publicly")

    page_limit_default: int = Field(default=100, ge=1, le=10_000)
    page_limit_max: int = Field(default=10_000, ge=1, le=100_000)
    exact_count_limit: int = Field(
        default=100_000, ge=0, description="numberMatched is exact up to this count, estimated beyond"
    )
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    sync_batch_max: int = Field(default=10_000, ge=1, le=100_000)
    rate_limit_per_minute: int = Field(default=600, ge=1)
    feed_retention_days: int = Field(default=90, ge=1)
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

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        if not url.startswith(("postgresql", "postgres://")):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
