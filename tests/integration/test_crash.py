"""PostgreSQL killed in the middle of a partner's batch: nothing half-written, and the retry applies once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from api import auth
from api.db import get_engine, write_transaction
from api.services.sync import sync_properties
from estate_infra import migrations
from estate_infra.cluster import EmbeddedCluster, throwaway_cluster

BATCH = 10_000
pytestmark = pytest.mark.drill  # a cluster of its own, 2 × 10,000 records: run with -m drill


@pytest.fixture()
def killable_cluster() -> Iterator[EmbeddedCluster]:
    """A cluster of this test's own, so killing it disturbs no other test; fsync on, as a real crash needs."""
    with throwaway_cluster("estate-crash-pg-", fast_unsafe=False) as cluster:
        yield cluster


def _records() -> list[dict[str, Any]]:
    return [
        {
            "asset_ref": f"CR-{i:05d}",
            "name": f"Crash test {i}",
            "use_category": "office",
            "geometry": {
                "type": "Point",
                "coordinates": [-2.2 + (i % 100) * 1e-4, 52.19 + (i // 100) * 1e-4],
            },
            "gia_m2": 100.0 + i,
            "value_gbp": 1000 * i,
        }
        for i in range(BATCH)
    ]


def test_killed_server_leaves_no_partial_batch_and_retry_applies_once(
    killable_cluster: EmbeddedCluster,
) -> None:
    url = killable_cluster.url()
    migrations.upgrade(url)
    owner_engine = create_engine(url)
    with owner_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO organisation (code, name, kind) VALUES ('crash-co', 'Crash Co', 'district')")
        )
    with write_transaction(owner_engine, "test") as conn:
        key = auth.create_key(conn, "crash-co", "writer")
    engine = get_engine(url)
    principal = auth.principal_for_key(engine, key["key"])
    records = _records()
    outcome: dict[str, object] = {}

    def push() -> None:
        try:
            outcome["result"] = sync_properties(engine, principal, records, idempotency_key="night-1")
        except Exception as exc:  # noqa: BLE001 - the crash is the point
            outcome["error"] = exc

    worker = threading.Thread(target=push)
    worker.start()
    # Kill the server while the batch's transaction is writing.
    watcher = create_engine(url, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + 60
    killed = False
    with watcher.connect() as conn:
        while time.monotonic() < deadline and worker.is_alive():
            busy = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE '%sync_stage%' AND state = 'active'"
                )
            ).scalar_one()
            if busy:
                killable_cluster.kill()
                killed = True
                break
            time.sleep(0.005)
    watcher.dispose()
    worker.join(timeout=60)
    assert killed, "the batch finished before it could be interrupted"
    assert "error" in outcome

    killable_cluster.start()
    engine.dispose()
    owner_engine.dispose()
    check = create_engine(url)
    with check.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM property WHERE owner = 'crash-co'")).scalar_one()
        history = conn.execute(
            text("SELECT count(*) FROM property_history WHERE owner = 'crash-co'")
        ).scalar_one()
    assert (rows, history) == (0, 0)  # nothing half-written

    first = sync_properties(engine, principal, records, idempotency_key="night-1")
    again = sync_properties(engine, principal, records, idempotency_key="night-1")
    assert json.loads(first.content)["summary"]["inserted"] == BATCH and again.replayed
    assert again.content == first.content
    with check.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM property WHERE owner = 'crash-co'")).scalar_one()
        history = conn.execute(
            text("SELECT count(*) FROM property_history WHERE owner = 'crash-co'")
        ).scalar_one()
    assert (rows, history) == (BATCH, BATCH)  # applied exactly once
    check.dispose()
    engine.dispose()
