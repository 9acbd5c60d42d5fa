"""Helpers shared by tests: headers, fingerprints of the register, sample records."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import Engine, text

from estate_infra.cluster import free_port

ROOT = Path(__file__).resolve().parents[1]


def slots_free(engine: Engine, keys: list[int]) -> bool:
    """Whether none of the advisory-lock ``keys`` is held by anyone (tried, and let go at once)."""
    with engine.connect() as conn:
        taken = [conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": k}).scalar_one() for k in keys]
        conn.execute(text("SELECT pg_advisory_unlock_all()"))
        conn.commit()
    return all(taken)


def wait_until_serving(base: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx2.get(f"{base}/healthz", timeout=1)
            return
        except httpx2.HTTPError:
            time.sleep(0.2)


@contextlib.contextmanager
def estate_serve(db_url: str, workers: int, **env: str) -> Iterator[str]:
    """`estate serve --workers N` on a free loopback port, as an operator starts it; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--workers", str(workers)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": db_url, "ESTATE_PORT": str(port), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def words(output: str) -> str:
    """A command's output with line breaks folded: rich wraps at whatever width its console was built with."""
    return " ".join(output.split())


def auth_header(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def register_fingerprint(engine: Engine) -> tuple[Any, ...]:
    """A digest of everything a write could change: any difference means the register changed."""
    with engine.connect() as conn:
        props = conn.execute(
            text(
                "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t.id)), '') "
                "FROM (SELECT id, version, deleted_at, geom, value_gbp, name FROM property) t"
            )
        ).one()
        history = conn.execute(text("SELECT count(*), coalesce(max(id), 0) FROM property_history")).one()
        orgs = conn.execute(text("SELECT count(*) FROM organisation")).scalar_one()
    return (tuple(props), tuple(history), orgs)


def point(lon: float = -2.2200, lat: float = 52.1920) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def new_property(owner: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "owner": owner,
        "asset_ref": f"T-{hashlib.sha1(os.urandom(8)).hexdigest()[:10]}",
        "name": "Test Building",
        "post_town": "Worcester",
        "postcode": "WR1 2AB",
        "geometry": point(),
        "use_category": "office",
        "tenure": "freehold",
        "gia_m2": 850.0,
        "value_gbp": 1_250_000,
        "rag": "amber",
        "rag_reason": "half empty since 2009",
    }
    body.update(overrides)
    return body


def place_building(
    engine: Engine,
    owner: str,
    name: str,
    town: str,
    easting: float,
    northing: float,
    actor: str,
    **fields: Any,
) -> str:
    """Store a building at a British National Grid position through the register's own write path."""
    from api.db import write_transaction
    from api.services.properties import create_record
    from gis.crs import bng_to_lonlat
    from gis.register import validate_property

    lon, lat = bng_to_lonlat(easting, northing)
    body = new_property(
        owner, name=name, post_town=town, geometry={"type": "Point", "coordinates": [lon, lat]}, **fields
    )
    with write_transaction(engine, actor) as conn:
        return create_record(conn, validate_property(body, creating=True))["id"]
