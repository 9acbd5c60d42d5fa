"""Where the database is: ``DATABASE_URL``, or the embedded cluster's folder, port and binaries.

The application's settings (``api.settings.Settings``) extend these, so each is
defined once and read the same way by the CLI, Alembic and the API.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ESTATE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "ESTATE_DATABASE_URL"),
        description="PostgreSQL URL of an existing PostGIS server; unset = embedded cluster",
    )
    data_dir: Path = Field(default=PROJECT_ROOT / ".estate", description="embedded cluster folder")
    pg_port: int = Field(default=54329, ge=1024, le=65535, description="embedded cluster port")
    pg_bin_dir: Path | None = Field(default=None, description="PostgreSQL binaries; found if unset")

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
