"""Which database: ``DATABASE_URL`` when set, else the embedded cluster (started on demand).

Only the ``estate`` command and Alembic call this. The web application takes a
URL and never starts PostgreSQL or installs packages.
"""

from __future__ import annotations

from estate_infra.cluster import EmbeddedCluster, ensure_installed
from estate_infra.settings import DatabaseSettings


def default_cluster(settings: DatabaseSettings) -> EmbeddedCluster:
    """Return the project's embedded cluster as the settings describe it (installing PostgreSQL as root)."""
    bin_dir = ensure_installed(settings.pg_bin_dir)
    return EmbeddedCluster(root=settings.data_dir, port=settings.pg_port, bin_dir=bin_dir)


def resolve_database_url(settings: DatabaseSettings | None = None) -> str:
    """Return DATABASE_URL, or start the embedded cluster and return its URL."""
    settings = settings or DatabaseSettings()
    if settings.database_url:
        return settings.database_url
    cluster = default_cluster(settings)
    cluster.start()
    return cluster.url()
