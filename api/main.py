"""Assemble the FastAPI application."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from api.db import AsyncPool, get_engine
from api.deps import identify_caller
from api.errors import register_error_handlers
from api.guards import RequestGuards
from api.limits import SlotLimiter
from api.middleware import QuickRefusal, RequestGuard
from api.offload import WorkPool
from api.openapi import complete_openapi
from api.ratelimit import RateLimiter
from api.routes import (
    colocation,
    disposal,
    docs,
    exports,
    health,
    imports,
    maps,
    ogc,
    organisations,
    people,
    properties,
    rag,
    receipts,
    session,
    sync,
    webhooks,
)
from api.settings import Settings, get_settings

logger = logging.getLogger("shared_estate")


async def _warm(app: FastAPI) -> None:
    """Pay the first request's one-off costs when serving starts, not in a user's first page.

    The OpenAPI document (which the query guards read) took 0.5 s to build, and the first
    connection of the serving pool 0.15 s; both were paid by whoever opened the map first.
    A database that is not up yet only leaves the pool cold: serving starts regardless.
    """
    app.openapi()
    try:
        async with app.state.async_pool.engine().connect():
            pass
    except Exception:  # noqa: BLE001 - warming is an optimisation; /healthz reports the database
        logger.warning(
            "could not open the serving pool at start-up; the first request opens it", exc_info=True
        )


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The application; ``uvicorn --factory api.main:create_app`` builds one per worker."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Webhook deliveries and the closing of interest windows run beside request handling,
        # never inside it; building the app starts nothing, serving it does.
        if settings.work_prestart:
            # Each worker process loads pandas, pyogrio and numpy (~1.5 s of CPU) before serving,
            # not under the first caller's export.
            await app.state.work_pool.start()
        worker = None
        if settings.background_worker:
            from api.services.webhooks import DisposalWorker

            worker = DisposalWorker(app.state.engine, settings)
            worker.start()
        await _warm(app)
        try:
            yield
        finally:
            try:
                if worker is not None:
                    worker.stop()
                await app.state.async_pool.dispose()
                await app.state.slots.dispose()
            finally:
                if settings.work_prestart:
                    # Started with the server, ended with it, and waited for: a pool left to the
                    # interpreter's exit leaves its queues' semaphores to be reported as leaked.
                    # (A pool started lazily, as the test clients' are, outlives their lifespans.)
                    await asyncio.to_thread(app.state.work_pool.shutdown)

    app = FastAPI(
        title="Shared Estate",
        version="0.1.0",
        description="One register of every public building in a place, whoever owns it.",
        lifespan=lifespan,
        docs_url=None,  # served by api/routes/docs.py from local assets
        redoc_url=None,
        openapi_url=None,  # served by api/routes/docs.py, serialised once
        # Every FastAPI route identifies its caller and charges the rate limit, pages and sign-in
        # included. Not charged, as each costs less than the database round trip of a charge: static
        # files (StaticFiles, from disk), the OpenAPI document (bytes kept in memory) and refusals
        # made before routing (404, 405, 413, 414, 400 for an unknown host).
        dependencies=[Depends(identify_caller)],
    )
    app.state.settings = settings
    if engine is None:
        # Building the app never starts PostgreSQL: the CLI or the fixture chose the database.
        if not settings.database_url:
            raise RuntimeError(
                "no database URL: set DATABASE_URL, or run `estate serve`, which starts the embedded cluster"
            )
        engine = get_engine(settings.database_url)  # connects lazily, on the first request
    app.state.engine = engine
    # Reads on the serving path (tiles, features, one record, callers) use an asyncio pool.
    url = engine.url.render_as_string(hide_password=False)
    app.state.async_pool = AsyncPool(url, settings.async_pool_size)
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    # Expensive work: slots shared by every worker through PostgreSQL, run in worker processes.
    app.state.slots = SlotLimiter(url, settings.expensive_at_once)
    app.state.work_pool = WorkPool(url, settings.work_processes)
    register_error_handlers(app)

    # Other web maps may use our tiles and features (read-only, no credentials).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["ETag", "Content-Crs", "Link", "X-Tile-Mode"],
    )
    # Bodies are bounded by the bytes read, before auth or parsing; each request gets its
    # statement timeout and is cancelled in PostgreSQL when its client goes.
    app.add_middleware(RequestGuard, settings=settings)
    # A caller at its limit of expensive work here is refused before its body is read or its key looked up.
    app.add_middleware(QuickRefusal, routes_app=app, wait_s=settings.expensive_wait_s)
    # Outermost: a hostile URL (too long, NUL in path or query) or an unknown Host is refused first.
    app.add_middleware(RequestGuards, max_url_bytes=settings.max_url_bytes, routes_app=app, settings=settings)
    for module in (
        docs,
        health,
        ogc,
        organisations,
        people,
        session,
        properties,
        sync,
        imports,
        receipts,
        exports,
        colocation,
        rag,
        disposal,
        webhooks,
        maps,
    ):
        app.include_router(module.router)
    complete_openapi(app)
    for name, directory in maps.VENDOR_DIRS.items():
        app.mount(
            f"/static/vendor/{name}", StaticFiles(directory=directory, check_dir=False), name=f"vendor-{name}"
        )
    for prefix, directory in docs.ASSET_DIRS.items():
        app.mount(prefix, StaticFiles(directory=directory, check_dir=False), name=prefix.rsplit("/", 1)[-1])
    app.mount("/static", StaticFiles(directory=maps.STATIC_DIR), name="static")
    return app
