"""Alembic environment: the URL is the caller's (``estate migrate``, the fixtures), else DATABASE_URL or
the embedded cluster, as ``estate_infra`` resolves it. Migrations import no application code."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from estate_infra.database import resolve_database_url

config = context.config


def run_migrations_online() -> None:
    url = config.attributes.get("url") or resolve_database_url()
    connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
