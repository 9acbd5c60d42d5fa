"""`estate serve --workers 2`: the rate limit and the tile cache hold across worker processes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2
import pytest
from support import auth_header, estate_serve

PER_MINUTE = 20


@pytest.fixture(scope="module")
def two_workers(db_url: str, seeded) -> Iterator[str]:
    with estate_serve(db_url, 2, ESTATE_RATE_LIMIT_PER_MINUTE=str(PER_MINUTE)) as base:
        yield base


def test_the_rate_limit_is_one_allowance_across_two_workers(two_workers: str, make_org, make_key) -> None:
    headers = auth_header(make_key(make_org(), "reader"))
    started = time.monotonic()
    statuses = []
    for _ in range(3 * PER_MINUTE):
        # A new connection each time, so the kernel hands requests to either worker.
        statuses.append(
            httpx2.get(f"{two_workers}/collections/properties/items?limit=1", headers=headers).status_code
        )
    elapsed_s = time.monotonic() - started
    allowed = statuses.count(200)
    refilled = int(elapsed_s * PER_MINUTE / 60) + 1
    assert PER_MINUTE <= allowed <= PER_MINUTE + refilled, (allowed, elapsed_s)
    assert set(statuses) == {200, 429}


def test_a_write_through_one_worker_is_seen_by_every_worker(two_workers: str, make_org, make_key) -> None:
    import mercantile
    from support import new_property

    org = make_org()
    headers = auth_header(make_key(org, "admin"))
    lon, lat = -2.31, 52.05
    t = mercantile.tile(lon, lat, 14)
    url = f"{two_workers}/collections/properties/tiles/WebMercatorQuad/14/{t.y}/{t.x}?owner={org}"
    before = {httpx2.get(url, headers=headers).headers["ETag"] for _ in range(6)}
    assert len(before) == 1  # every worker answers the same cached tile
    body = new_property(org, geometry={"type": "Point", "coordinates": [lon, lat]})
    assert httpx2.post(f"{two_workers}/properties", json=body, headers=headers).status_code == 201
    after = {httpx2.get(url, headers=headers).headers["ETag"] for _ in range(6)}
    assert len(after) == 1 and after != before
