"""The workspace's national view in real headless Chromium over N synthetic buildings (default 1,000,000).

Issue 11's target: the first full render (every tile of the view loaded and its bubbles drawn)
within 3 s, with at most 40 tile requests. Peer measured in the same run: the same tile URLs
fetched one after another by a plain HTTP client, which is what the server alone costs; the
ratio says what the browser adds (or saves, by fetching in parallel).

    .venv/bin/python -m bench.map_national [--n 1000000] [--port 8112]
    .venv/bin/python -m bench.map_national --keep .data-bench --pg-port 55410   # load once, reuse after

With ``--keep DIR`` the cluster lives in DIR and is kept between runs: it is migrated on each run
and loaded only while it does not hold N buildings (a million rows take minutes to load).
"""

from __future__ import annotations

import argparse
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import uvicorn

from api.db import get_engine
from api.main import create_app
from api.services import summary as summary_svc
from api.services.filters import build_filter
from api.settings import Settings
from bench.national_scale import load
from bench.scratch import scratch_database
from estate_infra import migrations
from estate_infra.cluster import EmbeddedCluster, ensure_installed
from gis import visibility

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
RENDERED = """() => window.ESTATE_MAP && ESTATE_MAP.ready() && ESTATE_MAP.map().areTilesLoaded()
  && ESTATE_MAP.bubbleTotal() > 0"""


def serve(url: str, port: int) -> uvicorn.Server:
    # No disposal worker: it polls the database beside the page being timed, and outlives the cluster.
    settings = Settings(
        database_url=url, online_basemap=False, rate_limit_per_minute=1_000_000, background_worker=False
    )
    app = create_app(settings, get_engine(url))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def first_render(base: str, screenshot: Path | None = None) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    tiles: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.on("request", lambda r: tiles.append(r.url) if "/tiles/WebMercatorQuad/" in r.url else None)
        # Tiles are fetched by MapLibre's workers, which the page's own timeline does not list.
        seen: list[tuple[str, float, float]] = []
        page.on(
            "requestfinished",
            lambda r: (
                seen.append((r.url, time.perf_counter() - start, r.timing["responseEnd"]))
                if "/tiles/" in r.url or "tilejson" in r.url
                else None
            ),
        )
        start = time.perf_counter()
        page.goto(f"{base}/map")
        page.wait_for_function(RENDERED, timeout=600_000, polling=50)
        render_s = time.perf_counter() - start
        page.wait_for_function("() => ESTATE_MAP.summary() !== null", timeout=600_000, polling=50)
        panel_s = time.perf_counter() - start
        bubbles, summary, bbox = page.evaluate(
            "() => [ESTATE_MAP.bubbleTotal(), ESTATE_MAP.summary().count, ESTATE_MAP.viewBbox()]"
        )
        # Where the time went: each request the page made, from navigation start (ms).
        timeline = page.evaluate(
            """() => performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
                 .map((e) => [e.name.replace(location.origin, ""), Math.round(e.startTime),
                              Math.round(e.responseEnd), e.encodedBodySize || e.transferSize || 0])"""
        )
        if screenshot:
            page.screenshot(path=str(screenshot))
        browser.close()
    return {
        "render_s": render_s,
        "panel_s": panel_s,
        "tiles": tiles,
        "bubbles": bubbles,
        "summary": summary,
        "bbox": ",".join(map(str, bbox)),
        "timeline": timeline
        + [
            [url.split("/tiles/", 1)[-1][:60], round(1000 * at - took), round(1000 * at), 0]
            for url, at, took in seen
        ],
    }


@contextmanager
def kept_database(root: Path, port: int) -> Iterator[str]:
    """A migrated register in a cluster kept in ``root`` (started, and stopped afterwards)."""
    cluster = EmbeddedCluster(root=root.resolve(), port=port, bin_dir=ensure_installed())
    cluster.start()
    try:
        migrations.upgrade(cluster.url())
        yield cluster.url()
    finally:
        cluster.stop("fast")


def ensure_loaded(url: str, n: int) -> str:
    """Load n buildings unless the register already holds exactly n; say which."""
    have = migrations.property_count(url)
    if have == n:
        return f"register holds {n:,} properties (reused)"
    if have:
        raise SystemExit(f"the kept register holds {have:,} properties, not {n:,}: remove its folder")
    return f"loading {n:,} properties ... {load(url, n):.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, default=8112)
    parser.add_argument("--keep", type=Path, help="keep the loaded cluster in this folder and reuse it")
    parser.add_argument("--pg-port", type=int, default=55410, help="the kept cluster's port")
    parser.add_argument("--screenshot", type=Path, help="save the warm run's national view here (PNG)")
    args = parser.parse_args()
    database = kept_database(args.keep, args.pg_port) if args.keep else scratch_database()
    with database as url:
        print(ensure_loaded(url, args.n))
        server = serve(url, args.port)
        base = f"http://127.0.0.1:{args.port}"
        try:
            cold = first_render(base)
            warm = first_render(
                base, args.screenshot
            )  # the server's tile cache (if any) and the planner are warm now
            with httpx2.Client(timeout=600) as client:
                start = time.perf_counter()
                for tile_url in warm["tiles"]:
                    client.get(tile_url)
                peer_s = time.perf_counter() - start
                start = time.perf_counter()
                client.get(f"{base}/properties/summary", params={"bbox": warm["bbox"], "limit": 25})
                summary_s = time.perf_counter() - start
                start = time.perf_counter()
                client.get(f"{base}/properties/summary", params={"limit": 25})  # no view: the whole register
                register_s = time.perf_counter() - start
                start = time.perf_counter()
                client.get(f"{base}/map/wayfinding.geojson")
                wayfinding_s = time.perf_counter() - start
        finally:
            server.should_exit = True
        # Peer of the no-view summary: the same totals counted from every row, as before the cells served it.
        with get_engine(url).connect() as conn:
            start = time.perf_counter()
            summary_svc.totals(conn, build_filter(), visibility.PUBLIC, stored=False)
            register_rows_s = time.perf_counter() - start
    for name, run in (("cold", cold), ("warm", warm)):
        print(f"\n{name} page, requests from navigation start (ms): start  end  bytes")
        for url, begin_ms, end_ms, size in run["timeline"]:  # type: ignore[attr-defined]
            print(f"  {url[:80]:<80}{begin_ms:>7}{end_ms:>7}{size:>10,}")
    print(f"\n{'national view, 1366x768':<28}{'cold':>10}{'warm':>10}{'target':>10}")
    print(f"{'first full render (s)':<28}{cold['render_s']:>10.2f}{warm['render_s']:>10.2f}{3:>10}")
    print(f"{'tile requests':<28}{len(cold['tiles']):>10}{len(warm['tiles']):>10}{40:>10}")
    print(f"{'in-view panel ready (s)':<28}{cold['panel_s']:>10.2f}{warm['panel_s']:>10.2f}{'':>10}")
    print(
        f"GET /properties/summary for the view: {summary_s:.2f} s; with no view (the whole register): "
        f"{register_s:.2f} s; /map/wayfinding.geojson: {wayfinding_s:.2f} s"
    )
    print(
        f"peer: the whole register's totals counted from every row: {register_rows_s:.2f} s; "
        f"no-view summary / peer = {register_s / register_rows_s:.2f}"
    )
    print(f"\nbuildings in the bubbles {warm['bubbles']:,}; in the panel's count {warm['summary']:,}")
    print(
        f"peer: the same {len(warm['tiles'])} tiles fetched one by one over HTTP: {peer_s:.2f} s; "
        f"browser render / peer = {warm['render_s'] / peer_s:.2f}"
    )


if __name__ == "__main__":
    main()
