"""Database access: one engine per process, transactions that carry their actor.

Every write runs inside :func:`write_transaction`, which records the actor in
``estate.actor`` for the history triggers; the triggers refuse a write without
one, so no path can change the register anonymously. Connections drop to the
``estate_app`` role, which may add to history but never alter or delete it.
The URL is always given: the CLI and the fixtures decide which database
(``estate_infra.database``); nothing here starts PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text

APP_ROLE = "estate_app"


@lru_cache(maxsize=4)
def get_engine(url: str, app_role: bool = True) -> Engine:
    """Return a pooled engine for ``url``; with ``app_role`` each connection runs as estate_app.

    Connects lazily and never starts a server: which database is the caller's decision.
    """
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    if app_role:

        @event.listens_for(engine, "connect")
        def _set_role(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,))
                if cursor.fetchone():
                    cursor.execute(f"SET ROLE {APP_ROLE}")
            dbapi_connection.commit()

    return engine


def set_actor(connection: Connection, actor: str) -> None:
    connection.execute(text("SELECT set_config('estate.actor', :actor, true)"), {"actor": actor})


@contextmanager
def write_transaction(engine: Engine, actor: str) -> Iterator[Connection]:
    """Yield a connection in a transaction whose writes are attributed to ``actor``."""
    with engine.begin() as connection:
        set_actor(connection, actor)
        yield connection
