"""The ASGI guard: bodies bounded by bytes read, statements bounded per route, cancelled with their client."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from support import free_port


@pytest.fixture()
def small_body_client(db_url: str, seeded: Engine) -> Iterator[TestClient]:
    from api.main import create_app
    from api.settings import Settings

    app = create_app(
        Settings(database_url=db_url, max_body_bytes=4096, rate_limit_per_minute=1_000_000), seeded
    )
    with TestClient(app) as client:
        yield client


def _chunks(total: int, size: int = 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def test_a_chunked_body_past_the_limit_is_413_before_authentication(small_body_client) -> None:
    # No Content-Length: the guard counts what arrives, and answers before the (missing) key is checked.
    response = small_body_client.post(
        "/sync/properties", content=_chunks(64 * 1024), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "4096" in response.json()["detail"]


def test_a_declared_length_past_the_limit_is_413_unread(small_body_client) -> None:
    response = small_body_client.post("/sync/properties", content=b"x" * 5000)
    assert response.status_code == 413 and response.json()["status"] == 413


def test_a_body_within_the_limit_reaches_the_route(small_body_client) -> None:
    response = small_body_client.post("/sync/properties", json={"records": []})
    assert response.status_code == 401  # the route ran: it wants a key


def _guarded_app(db_url: str, timeout_s: float) -> FastAPI:
    """A small app behind the real guard and error table, with one slow route per execution model."""
    from api.db import AsyncPool, get_engine
    from api.errors import register_error_handlers
    from api.middleware import RequestGuard
    from api.settings import Settings

    app = FastAPI()
    register_error_handlers(app)
    app.add_middleware(RequestGuard, settings=Settings(database_url=db_url, statement_timeout_s=timeout_s))
    engine, pool = get_engine(db_url), AsyncPool(db_url)

    @app.get("/sleep-sync")
    def sleep_sync(seconds: float, marker: str) -> dict[str, str]:
        with engine.connect() as conn:
            conn.execute(text(f"SELECT pg_sleep(:s) /* {marker} */"), {"s": seconds})
        return {"slept": marker}

    @app.get("/sleep-async")
    async def sleep_async(seconds: float, marker: str) -> dict[str, str]:
        async with pool.engine().connect() as conn:
            await conn.execute(text(f"SELECT pg_sleep(:s) /* {marker} */"), {"s": seconds})
        return {"slept": marker}

    return app


@pytest.mark.parametrize("route", ["/sleep-sync", "/sleep-async"])
def test_a_statement_past_the_route_timeout_answers_503_problem(db_url: str, route: str) -> None:
    with TestClient(_guarded_app(db_url, timeout_s=0.2)) as client:
        response = client.get(route, params={"seconds": 5, "marker": "timeout"})
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "time limit" in response.json()["detail"]
        assert client.get(route, params={"seconds": 0, "marker": "quick"}).status_code == 200


def _running(owner_engine: Engine, marker: str) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE :m AND pid <> pg_backend_pid()"),
            {"m": f"%{marker}%"},
        ).scalar_one()


@pytest.mark.parametrize("route", ["/sleep-sync", "/sleep-async"])
def test_a_client_that_goes_away_has_its_query_cancelled(
    db_url: str, owner_engine: Engine, route: str
) -> None:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_guarded_app(db_url, timeout_s=120), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        marker = f"m{uuid.uuid4().hex}"
        url = f"http://127.0.0.1:{port}{route}?seconds=60&marker={marker}"
        outcome: list[BaseException] = []

        def give_up() -> None:
            try:
                httpx2.get(url, timeout=httpx2.Timeout(10.0, read=3.0))
            except httpx2.ReadTimeout as exc:
                outcome.append(exc)

        client = threading.Thread(target=give_up)
        client.start()
        deadline = time.monotonic() + 30
        while not _running(owner_engine, marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _running(owner_engine, marker) == 1  # the query is running in PostgreSQL
        client.join()
        assert outcome  # the client gave up long before the query's 60 s
        deadline = time.monotonic() + 30
        while _running(owner_engine, marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _running(owner_engine, marker) == 0  # cancelled, not left to run out
    finally:
        server.should_exit = True
        thread.join(timeout=10)
