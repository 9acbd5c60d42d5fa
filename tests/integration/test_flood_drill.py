"""Flood drill: one caller floods the expensive routes; everyone else's cheap requests stay fast.

A real server (uvicorn, its own process) on the test cluster. Other callers'
p95 on cheap routes is measured idle, then while one key floods exports,
co-location and receipts from many threads; per-caller concurrency limits
and costs keep the flood to a few requests at a time (the rest are 429s), so
the p95 stays within 2x of idle. Behind ``-m drill``: it takes a minute and
measures time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time

import httpx2
import pytest
from support import auth_header

PORT = 8723  # this worktree's live-server range is 8720-8729
CHEAP = ["/organisations/redditch", "/collections/properties/items?limit=5&owner=wychavon", "/conformance"]
EXPENSIVE = [
    ("GET", "/exports/properties.gpkg", None),
    ("GET", "/exports/properties.csv", None),
    ("GET", "/colocation/candidates?distance_m=2000&limit=50", None),
    ("POST", "/receipts/estimate", {"runs": 20_000}),
]
SAMPLES = 150


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def _cheap_latencies(base: str, headers_by_caller: list[dict[str, str]]) -> list[float]:
    latencies: list[float] = []
    with httpx2.Client(base_url=base, timeout=60) as http:
        for i in range(SAMPLES):
            headers = headers_by_caller[i % len(headers_by_caller)]
            start = time.perf_counter()
            response = http.get(CHEAP[i % len(CHEAP)], headers=headers)
            latencies.append(time.perf_counter() - start)
            assert response.status_code == 200, response.text[:200]
            time.sleep(0.01)
    return latencies


@pytest.fixture()
def server(db_url, seeded):
    script = (
        "import uvicorn\n"
        "from api.main import create_app\n"
        "from api.settings import Settings\n"
        # work_prestart as in production (the suite's apps start their work processes lazily).
        f"app = create_app(Settings(database_url={db_url!r}, rate_limit_per_minute=100_000, work_prestart=True))\n"
        f"uvicorn.run(app, host='127.0.0.1', port={PORT}, log_level='warning')\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=os.getcwd())
    base = f"http://127.0.0.1:{PORT}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{base}/conformance", timeout=2).status_code == 200:
                break
        except httpx2.HTTPError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("server did not start")
    yield base
    process.terminate()
    process.wait(timeout=20)


@pytest.mark.drill
def test_one_caller_flooding_expensive_routes_does_not_slow_the_others(server, make_org, make_key) -> None:
    others = [{}, auth_header(make_key("redditch", "reader"))]
    flooder = auth_header(make_key(make_org(), "writer"))
    _cheap_latencies(server, others)  # warm the pool and caches
    idle = _cheap_latencies(server, others)

    stop = threading.Event()
    outcomes: dict[int, int] = {}
    lock = threading.Lock()

    def flood(worker: int) -> None:
        method, path, body = EXPENSIVE[worker % len(EXPENSIVE)]
        with httpx2.Client(base_url=server, timeout=300) as http:
            while not stop.is_set():
                response = http.request(method, path, headers=flooder, json=body)
                with lock:
                    outcomes[response.status_code] = outcomes.get(response.status_code, 0) + 1
                if response.status_code == 429:
                    time.sleep(0.05)

    threads = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(16)]
    for thread in threads:
        thread.start()
    time.sleep(2)  # the flood is under way
    try:
        flooded = _cheap_latencies(server, others)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=300)
    idle_p95, flooded_p95 = _p95(idle), _p95(flooded)
    print(
        f"\ncheap p95 idle {idle_p95 * 1000:.1f} ms, flooded {flooded_p95 * 1000:.1f} ms "
        f"({flooded_p95 / idle_p95:.2f}x); flooder's answers by status: {dict(sorted(outcomes.items()))}"
    )
    assert outcomes.get(429, 0) > 0, "the flood was never limited"
    assert flooded_p95 <= 2 * idle_p95
