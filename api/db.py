"""Database access: one engine per process, transactions that carry their actor.

Every write runs inside :func:`write_transaction`, which records the actor in
``estate.actor`` for the history triggers; the triggers refuse a write without
one, so no path can change the register anonymously. Connections drop to the
``estate_app`` role, which may add to history but never alter or delete it.
The URL is always given: the CLI and the fixtures decide which database
(``estate_infra.database``); nothing here starts PostgreSQL.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

from gis.errors import TimedOut, Unavailable

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

APP_ROLE = "estate_app"


def database_unreachable(exc: DBAPIError) -> bool:
    """Whether ``exc`` says the database could not be reached or went away, not that a statement failed.

    SQLAlchemy marks a lost connection (``connection_invalidated``); a refused or failed connect
    is a psycopg OperationalError with no SQLSTATE; the server shutting down or starting up is
    class 57P (admin_shutdown, crash_shutdown, cannot_connect_now) and a broken connection class
    08. Left out as faults, not pauses: a protocol violation (08P01, a bug of ours) and a
    dropped database (57P04).
    """
    from psycopg import OperationalError

    if exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None)
    if not isinstance(orig, OperationalError):
        return False
    state = orig.sqlstate or ""
    if state in ("08P01", "57P04"):
        return False
    return state == "" or state.startswith(("57P", "08"))


def database_failure(exc: DBAPIError) -> TimedOut | Unavailable | None:
    """What a database error means for the caller, when it is not a fault: the request's statement
    timeout ran out (a cancel for a departed client has no one to answer), or the database cannot
    be reached. Served requests and work processes (api/offload.py) both answer from this."""
    from psycopg.errors import QueryCanceled

    if isinstance(exc.orig, QueryCanceled):
        return TimedOut("the database work for this request ran past its time limit", retry_after=30)
    if database_unreachable(exc):
        return Unavailable("the register's database cannot be reached; retry shortly", retry_after=10)
    return None


@dataclass
class RequestWork:
    """The database work of one request: its statement timeout and the connections it holds.

    The ASGI layer sets one per request; the pool's checkout hook applies the
    timeout and records the connection, so a client that goes away can have
    its queries cancelled wherever they run (event loop or threadpool).
    """

    statement_timeout_ms: int
    connections: set[Any] = field(default_factory=set)
    # Set in a worker process (api/offload.py): the serving process cancels the work by this name.
    application_name: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self) -> None:
        """Ask PostgreSQL to cancel whatever this request's connections are running."""
        with self.lock:
            held = list(self.connections)
        for connection in held:
            try:
                connection.cancel()
            except Exception:  # noqa: BLE001 - a connection already closed has nothing to cancel
                pass


CURRENT_WORK: ContextVar[RequestWork | None] = ContextVar("estate_request_work", default=None)


def _set_app_role(dbapi_connection: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,))
        if cursor.fetchone():
            cursor.execute(f"SET ROLE {APP_ROLE}")
    finally:
        cursor.close()
    dbapi_connection.commit()


def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    work = CURRENT_WORK.get()
    wanted = work.statement_timeout_ms if work else 0  # outside a request (CLI, tests): no limit
    if record.info.get("statement_timeout_ms", 0) != wanted:
        # Session-level and committed, so the pool's rollback on return keeps it; set only on change.
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET statement_timeout = {int(wanted)}")
        finally:
            cursor.close()
        dbapi_connection.commit()
        record.info["statement_timeout_ms"] = wanted
    if (
        work is not None
        and work.application_name
        and record.info.get("application_name") != work.application_name
    ):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT set_config('application_name', %s, false)", (work.application_name,))
        finally:
            cursor.close()
        dbapi_connection.commit()
        record.info["application_name"] = work.application_name
    if work is not None:
        with work.lock:
            work.connections.add(record.driver_connection)
        record.info["work"] = work


def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
    work = record.info.pop("work", None)
    if work is not None:
        with work.lock:
            work.connections.discard(record.driver_connection)


def _instrument(engine: Engine, app_role: bool) -> None:
    if app_role:
        event.listen(engine, "connect", lambda dbapi_connection, _record: _set_app_role(dbapi_connection))
    event.listen(engine, "checkout", _on_checkout)
    event.listen(engine, "checkin", _on_checkin)


class AsyncPool:
    """The serving path's asyncio pool (SQLAlchemy + psycopg), one per event loop.

    A worker runs one loop for its life, so it has one pool; the pool is made
    on first use, never when the app is built (building an app starts nothing).
    Test clients start a loop each, and get a fresh pool each.
    """

    def __init__(self, url: str, pool_size: int = 10, max_overflow: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self._engines: weakref.WeakKeyDictionary[Any, AsyncEngine] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def engine(self) -> AsyncEngine:
        import asyncio

        from sqlalchemy.ext.asyncio import create_async_engine

        loop = asyncio.get_running_loop()
        with self._lock:
            engine = self._engines.get(loop)
            if engine is None:
                # No JIT: serving queries take milliseconds, and compiling one costs hundreds of them.
                engine = create_async_engine(
                    self.url,
                    pool_size=self.pool_size,
                    max_overflow=self.max_overflow,
                    connect_args={"options": "-c jit=off"},
                )
                _instrument(engine.sync_engine, app_role=True)
                self._engines[loop] = engine
        return engine

    async def dispose(self) -> None:
        """Close this loop's connections (at the end of the app's lifespan)."""
        import asyncio

        with self._lock:
            engine = self._engines.pop(asyncio.get_running_loop(), None)
        if engine is not None:
            await engine.dispose()


@lru_cache(maxsize=4)
def get_engine(url: str, app_role: bool = True) -> Engine:
    """Return a pooled engine for ``url``; with ``app_role`` each connection runs as estate_app.

    Connects lazily and never starts a server: which database is the caller's decision.
    """
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    _instrument(engine, app_role)
    return engine


def set_actor(connection: Connection, actor: str) -> None:
    connection.execute(text("SELECT set_config('estate.actor', :actor, true)"), {"actor": actor})


@contextmanager
def write_transaction(engine: Engine, actor: str) -> Iterator[Connection]:
    """Yield a connection in a transaction whose writes are attributed to ``actor``."""
    with engine.begin() as connection:
        set_actor(connection, actor)
        yield connection
