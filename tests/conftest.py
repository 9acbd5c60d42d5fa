"""Test fixtures on a real PostgreSQL + PostGIS that the suite starts, owns and can kill.

One throwaway cluster per test session (fsync off, loopback, a free port),
migrated once and loaded with the Worcestershire seed once. Tests that write
do so as their own organisation (``test-*``) or check the register is
unchanged, so they do not disturb the seed the read-only tests rely on.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text

from estate_infra import migrations
from estate_infra.cluster import EmbeddedCluster, free_port, throwaway_cluster

# Real Argon2id, at a cost a shared 2-core test machine can afford many times over
# (production keeps the 64 MiB, 3-pass default; tests compare behaviour, not cost).
os.environ.setdefault("ESTATE_PASSWORD_HASH_MEMORY_KIB", "8192")
os.environ.setdefault("ESTATE_PASSWORD_HASH_TIME_COST", "1")
# The commands print through rich, which wraps at the terminal's width, and a pytest-xdist worker has
# no terminal: one width for every console, whichever process the test runs in, so output is stable.
os.environ["COLUMNS"] = "200"
os.environ["LINES"] = "50"
# Starlette's TestClient sends Host: testserver; the service answers only the hosts it is told to.
os.environ.setdefault("ESTATE_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1,::1")
# The many apps tests build start their work processes on the first expensive request, not each at
# start-up (~1.5 s of CPU per app); the flood drill starts them as production does.
os.environ.setdefault("ESTATE_WORK_PRESTART", "0")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedCluster]:
    with throwaway_cluster("estate-test-pg-") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def db_url(pg_cluster: EmbeddedCluster) -> str:
    url = pg_cluster.url()
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def owner_engine(db_url: str) -> Iterator[Engine]:
    engine = create_engine(db_url, pool_pre_ping=True)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    """The application's engine: connections run as the estate_app role."""
    from api.db import get_engine

    engine = get_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def db(engine: Engine) -> Iterator[Connection]:
    """An app-role connection inside a transaction rolled back at the end (GeoAlchemy2's pattern):
    for tests that need no commit, so what they write never reaches the shared register."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


@pytest.fixture(scope="session")
def seeded(engine: Engine) -> Engine:
    from api.services.seed import load_seed

    load_seed(engine)
    return engine


@pytest.fixture(scope="session")
def settings(db_url: str):
    from api.settings import Settings

    # No background webhook worker racing the tests: the tests that want one start their own.
    # Many tests sign in from the one test client address: throttle by address is tested on its own.
    return Settings(
        database_url=db_url,
        rate_limit_per_minute=1_000_000,
        background_worker=False,
        login_ip_max_failures=1_000_000,
    )


@pytest.fixture(scope="session")
def app(settings, seeded: Engine):
    from api.main import create_app

    return create_app(settings, seeded)


@pytest.fixture()
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture()
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., object]]:
    """Run an `estate` command against the test cluster, as `cli("keys", "list")`; ``input=`` feeds stdin."""
    from typer.testing import CliRunner

    from api import db, settings
    from api.cli import app

    monkeypatch.setenv("DATABASE_URL", db_url)
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    runner = CliRunner()
    yield lambda *args, input=None: runner.invoke(app, list(args), input=input, catch_exceptions=False)
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()


@pytest.fixture(scope="session")
def make_org(owner_engine: Engine) -> Callable[..., str]:
    """Create a fresh organisation for a test to write into; returns its code."""

    def _make(kind: str = "district", name: str | None = None) -> str:
        code = f"test-{uuid.uuid4().hex[:10]}"
        with owner_engine.begin() as conn:
            conn.execute(
                text("INSERT INTO organisation (code, name, kind) VALUES (:c, :n, :k)"),
                {"c": code, "n": name or code, "k": kind},
            )
        return code

    return _make


@pytest.fixture(scope="session")
def make_key(owner_engine: Engine, seeded: Engine) -> Callable[[str, str], str]:
    """Create an API key for an organisation and role; returns the plain key."""
    from api import auth
    from api.db import write_transaction

    def _make(org: str, role: str = "writer") -> str:
        with write_transaction(owner_engine, "test-setup") as conn:
            return auth.create_key(conn, org, role)["key"]

    return _make


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[str]:
    """The full app on a real loopback port (for GDAL, Chromium and other real clients)."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def make_person(owner_engine: Engine, seeded: Engine) -> Callable[..., tuple[str, str]]:
    """Create a person with a known password (no change required); returns (email, password)."""
    from api.db import write_transaction
    from api.services import people

    def _make(org: str, role: str = "editor") -> tuple[str, str]:
        email = f"{role}-{uuid.uuid4().hex[:8]}@{org}.example.gov.uk"
        password = f"pw-{uuid.uuid4().hex}"
        with write_transaction(owner_engine, "test-setup") as conn:
            people.add_user(conn, email, org, role, "test-setup", password=password)
        return email, password

    return _make


@pytest.fixture(scope="session")
def sign_in(app) -> Callable[[str, str], dict[str, str]]:
    """Sign a person in through POST /login; returns the headers a browser page would send (cookie + CSRF)."""

    def _sign_in(email: str, password: str) -> dict[str, str]:
        with TestClient(app) as fresh:
            response = fresh.post("/login", json={"email": email, "password": password})
            assert response.status_code == 200, response.text
            token = response.cookies["estate_session"]
            return {"Cookie": f"estate_session={token}", "X-CSRF-Token": response.json()["csrf_token"]}

    return _sign_in
