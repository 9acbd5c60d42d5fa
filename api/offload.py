"""Expensive work (exports, analyses, imports) runs in worker processes, not in the serving process.

Measured on the 2-core machine (docs/performance.md, "The serving path"):
one caller's two parallel GeoPackage exports, run in the API process's
threadpool, took other callers' p95 on cheap routes from ~15 ms to ~300 ms.
Writing a file with pyogrio/pandas, a Monte Carlo in numpy and the scoring of
co-location hold the GIL for long stretches, and the event loop that serves
tiles and records waits for it at every await. In a worker process that work
has its own interpreter, and runs at a lower CPU priority (``nice``), so the
kernel gives the serving process the core first.

:class:`WorkPool` is a ``concurrent.futures.ProcessPoolExecutor`` (spawn: no
fork of a process holding threads and sockets) of ``Settings.work_processes``
processes, started on the first expensive request, never when the app is
built. A task is a plain function of the services taking an Engine first;
the worker gives it its own engine, the request's statement timeout and a
tag in ``application_name``. When the client goes away, the route's await is
cancelled: a queued task never starts, a running one has its queries
cancelled in PostgreSQL through that tag.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine, event, text

from api.db import CURRENT_WORK, RequestWork, database_failure, get_engine
from gis.errors import Overloaded, RegisterError

T = TypeVar("T")

# Expensive work yields the CPU to the serving process (niceness is added to the worker's own).
WORKER_NICENESS = 10
TAG_PREFIX = "estate-work-"


def _start_worker() -> None:
    # Ctrl+C reaches the whole process group: the API process decides when work stops, and
    # its pool ends the workers (a worker interrupted here would only print a traceback).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # pragma: no cover - a platform without nice: run at normal priority
        pass
    # The services' libraries (pandas, pyogrio, shapely, numpy) load once per worker, at its start.
    import api.services.colocation
    import api.services.exports
    import api.services.imports
    import api.services.receipts  # noqa: F401

    parent = multiprocessing.parent_process()
    if parent is not None:
        # A worker whose API process died (kill -9 included) must not live on holding connections.
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _lower_backend_priority(dbapi_connection: Any, _record: Any) -> None:
    """Give this worker connection's PostgreSQL backend the worker's own lower priority, where we can.

    The embedded cluster runs beside the API on the same cores (DESIGN.md §2),
    and a co-location or export query spends most of its time in its backend,
    not in the worker. Only for a server on this machine (the pid must name a
    local postgres process), and only if the OS lets us: otherwise nothing changes.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(
            "SELECT pg_backend_pid(), inet_server_addr() IS NULL OR host(inet_server_addr()) IN ('127.0.0.1', '::1')"
        )
        pid, local = cursor.fetchone()
    finally:
        cursor.close()
    dbapi_connection.commit()
    try:
        if local and Path(f"/proc/{pid}/comm").read_text().strip() == "postgres":
            os.setpriority(os.PRIO_PROCESS, pid, max(os.getpriority(os.PRIO_PROCESS, pid), WORKER_NICENESS))
    except OSError:
        pass


def _worker_engine(url: str) -> Engine:
    engine = get_engine(url)
    if not event.contains(engine, "connect", _lower_backend_priority):
        event.listen(engine, "connect", _lower_backend_priority)
    return engine


def _in_worker(
    url: str, timeout_ms: int, tag: str, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    """Run ``fn(engine, *args, **kwargs)`` in a worker under the request's statement timeout and tag."""
    from sqlalchemy.exc import DBAPIError

    token = CURRENT_WORK.set(RequestWork(timeout_ms, application_name=tag))
    try:
        return fn(_worker_engine(url), *args, **kwargs)
    except RegisterError:
        raise  # the domain's own errors pickle (gis.errors) and are mapped to a status by api/errors.py
    except DBAPIError as exc:
        failure = database_failure(exc)  # a statement timeout, or the database gone: a status, pickled
        if failure is not None:
            raise failure from None
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from None  # driver errors need not pickle
    finally:
        CURRENT_WORK.reset(token)


def _json_of(engine: Engine, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
    from api.responses import render_json

    return render_json(fn(engine, *args, **kwargs))


class WorkPool:
    """A bounded pool of worker processes for the expensive routes; awaitable and cancellable."""

    def __init__(self, url: str, processes: int) -> None:
        self.url = url
        self.processes = processes
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                )
            return self._executor

    async def start(self) -> None:
        """Start every worker process now and wait until each has loaded the services' libraries."""
        pool = self._pool()
        await asyncio.gather(*(asyncio.wrap_future(pool.submit(os.getpid)) for _ in range(self.processes)))

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(engine, *args, **kwargs)`` in a worker process, under this request's statement timeout."""
        work = CURRENT_WORK.get()
        timeout_ms = work.statement_timeout_ms if work else 0
        tag = f"{TAG_PREFIX}{uuid.uuid4().hex}"
        future = self._pool().submit(_in_worker, self.url, timeout_ms, tag, fn, args, kwargs)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # The client went away. A queued task was cancelled with the await; a running one
            # has its queries cancelled, so its worker is free as soon as the database lets go.
            if future.running():
                await asyncio.shield(asyncio.to_thread(cancel_tagged, self.url, tag))
            raise
        except concurrent.futures.process.BrokenProcessPool:
            # A worker died (killed, out of memory): this request cannot be answered, the next gets a fresh pool.
            self._discard()
            raise Overloaded(
                "a work process stopped while running this request; retry", retry_after=5
            ) from None

    async def run_json(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
        """As :meth:`run`, the answer encoded as JSON in the worker: a large document
        (co-location's is ~180 kB) costs the serving loop nothing to encode."""
        return await self.run(_json_of, fn, *args, **kwargs)

    def _discard(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        """End the worker processes and wait for them."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def cancel_tagged(url: str, tag: str) -> int:
    """Cancel the queries of worker connections tagged ``tag``; return how many were signalled."""
    # As the login role, not estate_app: pg_cancel_backend needs the role the worker logged in as.
    engine: Engine = get_engine(url, app_role=False)
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :tag AND pid <> pg_backend_pid()"
                ),
                {"tag": tag},
            ).scalar_one()
        )


async def get_work_pool(request: Request) -> WorkPool:
    pool: WorkPool = request.app.state.work_pool
    return pool


WorkPoolDep = Annotated[WorkPool, Depends(get_work_pool)]
