"""The ``estate`` command's capabilities, one module each; here, how they reach the database.

The command line is one of the few places that decides which database to use:
``DATABASE_URL`` when set, else the embedded cluster, started on demand.
"""

from __future__ import annotations

from sqlalchemy import Engine


def database_url() -> str:
    """DATABASE_URL, or the embedded cluster's URL (starting it, and installing PostgreSQL as root)."""
    from api.settings import get_settings
    from estate_infra.database import resolve_database_url

    return resolve_database_url(get_settings())


def cli_engine(owner: bool = False) -> Engine:
    """The app-role engine, or with ``owner`` the schema owner's (key management, migrations)."""
    from api.db import get_engine

    return get_engine(database_url(), app_role=not owner)
